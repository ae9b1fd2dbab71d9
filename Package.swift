// swift-tools-version:6.2
import PackageDescription

// Layers (see README "Architecture"): executables → HTTP → node → cluster → ingest / system / runtime → storage / wire / protocols → model.
// The C system libraries are Debian packages installed by `make deps`.
let package = Package(
    name: "footfall",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "footfall", targets: ["footfall"]),
        .executable(name: "footfall-bench", targets: ["footfall-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CGeoIP", pkgConfig: "geoip", providers: [.apt(["libgeoip-dev"])]),
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb", providers: [.apt(["libmaxminddb-dev"])]),

        // Hashing, HMAC, scrypt and randomness from OpenSSL's libcrypto: deterministic, no I/O.
        .target(name: "FootfallCrypto", dependencies: ["COpenSSL"]),
        // Pure model: events, keys, privacy transforms, HLL, retention, visits. No I/O, no clock reads.
        .target(name: "FootfallModel", dependencies: ["FootfallCrypto"]),
        // Pure protocol state machines: model only, time and randomness as inputs, effects out. The
        // ring, membership, the replication coordinator, a node's data lifecycle, anti-entropy
        // sessions, system records' merge and staleness, clock agreement.
        .target(name: "FootfallProtocols", dependencies: ["FootfallModel", "FootfallCrypto"]),
        // Generated protobuf code from Proto/ (committed; regenerate with Proto/generate.sh).
        .target(
            name: "FootfallWire",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ]
        ),
        .target(
            name: "FootfallStorage",
            dependencies: ["CRocksDB", "FootfallModel", "FootfallProtocols", "FootfallWire", .product(name: "Logging", package: "swift-log")]
        ),
        // What every shell of a node shares: the clock it reads, its metrics, bounds on concurrent work.
        .target(name: "FootfallRuntime", dependencies: ["FootfallModel"]),
        // From a hit to a stored event: validation, the personal-data filter, daily salts, geolocation,
        // group commit into the event store.
        .target(
            name: "FootfallIngest",
            dependencies: ["FootfallModel", "FootfallCrypto", "FootfallStorage", "FootfallRuntime", "CGeoIP", "CMaxMindDB"]
        ),
        // Accounts, sites, tokens, sessions, revocations and site-deletion confirmations: the system
        // records every node holds, merged last writer wins, and whether this node may trust its copy.
        .target(
            name: "FootfallSystem",
            dependencies: [
                "FootfallModel", "FootfallCrypto", "FootfallProtocols", "FootfallStorage", "FootfallWire", "FootfallRuntime",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The cluster: membership (SWIM over gRPC), the replication coordinator's driver with hints,
        // anti-entropy passes, range moves, system-record replication, clock watch, backups; the
        // internal gRPC service and its start (`ClusterService`), their wire conversions, the
        // mutual-TLS transport and the cluster's certificates. What they use of the node is
        // `ClusterHost` (the shells) and `NodeServiceHost` (the service).
        .target(
            name: "FootfallCluster",
            dependencies: [
                "FootfallModel", "FootfallProtocols", "FootfallStorage", "FootfallWire",
                "FootfallRuntime", "FootfallIngest", "FootfallSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The node: ingest through replication, site queries answered by a replica, erasure, reports,
        // the public gRPC service, and what the cluster sees of it (`NodeServiceHost`).
        .target(
            name: "FootfallNode",
            dependencies: [
                "FootfallModel", "FootfallStorage", "FootfallCrypto", "FootfallProtocols", "FootfallWire",
                "FootfallRuntime", "FootfallIngest", "FootfallSystem", "FootfallCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // The node's HTTP face and its process: routes (Hummingbird), sign-in and credentials from
        // requests, the dashboard and tracker assets, the API document, and `NodeServer`, which
        // serves a node on its HTTP, HTTPS, public gRPC and cluster ports.
        .target(
            name: "FootfallHTTP",
            dependencies: [
                "FootfallModel", "FootfallCrypto", "FootfallStorage", "FootfallProtocols",
                "FootfallRuntime", "FootfallIngest", "FootfallCluster", "FootfallNode",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Static")]
        ),
        .executableTarget(
            name: "footfall",
            dependencies: [
                "FootfallNode", "FootfallHTTP", "FootfallStorage", "FootfallModel", "FootfallProtocols", "FootfallWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ]
        ),
        // Load generator and query timer for measurements (`make bench`); never part of `make test`.
        .executableTarget(
            name: "footfall-bench",
            dependencies: [
                "FootfallModel", "FootfallStorage", "FootfallNode", "FootfallHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),

        // The fuzz targets (README "Fuzzing"): every decoder a stranger or a peer reaches, driven
        // through the node's real paths on the in-memory store. A library, so the test suite
        // replays the committed corpora and regressions through the same code in every `make test`.
        .target(
            name: "FootfallFuzzTargets",
            dependencies: [
                "FootfallNode", "FootfallHTTP", "FootfallStorage", "FootfallModel", "FootfallProtocols", "FootfallWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/Targets"
        ),

        // What several test targets generate alike (random traffic for the differential tests).
        .target(name: "FootfallTestSupport", dependencies: ["FootfallModel"], path: "Tests/FootfallTestSupport"),
        .testTarget(name: "FootfallModelTests", dependencies: ["FootfallModel", "FootfallTestSupport"]),
        .testTarget(name: "FootfallFuzzTests", dependencies: ["FootfallFuzzTargets", .product(name: "HTTPTypes", package: "swift-http-types")]),
        // The replication simulation runs the real EventStore over the in-memory store.
        .testTarget(name: "FootfallProtocolsTests", dependencies: ["FootfallProtocols", "FootfallModel", "FootfallStorage"]),
        .testTarget(name: "FootfallStorageTests", dependencies: ["FootfallStorage", "FootfallModel", "FootfallTestSupport"]),
        .testTarget(
            name: "FootfallNodeTests",
            dependencies: [
                "FootfallNode", "FootfallHTTP", "FootfallCluster", "FootfallStorage", "FootfallModel", "FootfallWire",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
    ]
)

// libFuzzer's entry point for `make fuzz`. `-sanitize=fuzzer` supplies its `main`, so the target
// exists only in that build (FOOTFALL_FUZZ=1), never in `swift build --build-tests`.
// Only Footfall's own modules are instrumented: libFuzzer scans every coverage counter after each
// input, and the dependencies' counters made that scan most of the run's time. AddressSanitizer's
// runtime still watches every allocation.
if Context.environment["FOOTFALL_FUZZ"] != nil {
    let sanitizers = ["-sanitize=fuzzer,address"]
    for target in package.targets where target.name.hasPrefix("Footfall") && target.type == .regular {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(sanitizers + ["-enable-testing"])]
    }
    package.products.append(.executable(name: "footfall-fuzz", targets: ["footfall-fuzz"]))
    package.targets.append(.executableTarget(
        name: "footfall-fuzz", dependencies: ["FootfallFuzzTargets"], path: "Fuzz/Main",
        swiftSettings: [.unsafeFlags(sanitizers)],
        // gold cannot link the fuzzer runtime's line tables (an internal error): GNU ld can.
        linkerSettings: [.unsafeFlags(sanitizers + ["-use-ld=bfd"])]
    ))
}
