import CGeoIP
import CMaxMindDB
import Foundation
import FootfallModel
import Synchronization

/// Country (and region at most) for an IP, promise 4's "low accuracy". The IP is passed in memory
/// and never kept.
public protocol GeoLocator: Sendable {
    func locate(_ ip: IPAddress) -> Geo
}

/// Locates nothing: used when no database is available.
public struct NoGeoLocator: GeoLocator {
    public init() {}
    public func locate(_ ip: IPAddress) -> Geo { Geo() }
}

/// An operator-supplied MaxMind database (GeoLite2/GeoIP2 Country or City, or any mmdb with the
/// same layout), read through libmaxminddb. Only `country.iso_code` and the first subdivision's
/// `iso_code` are read, whatever else the file holds.
public final class MaxMindLocator: GeoLocator, @unchecked Sendable {
    // MMDB_s is read-only after open, and libmaxminddb lookups are thread-safe.
    private var database = MMDB_s()

    public init(path: String) throws {
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), &database)
        guard status == MMDB_SUCCESS else {
            throw FootfallError.internal("cannot open GeoIP database \(path): \(String(cString: MMDB_strerror(status)))")
        }
    }

    deinit { MMDB_close(&database) }

    public func locate(_ ip: IPAddress) -> Geo {
        var storage = sockaddr_storage()
        if ip.isV4 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: ip.bytes) }
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address) { Array($0) }) }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: ip.bytes) }
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address) { Array($0) }) }
        }
        var error: Int32 = 0
        var result = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(&database, $0, &error) }
        }
        guard error == MMDB_SUCCESS, result.found_entry else { return Geo() }
        let country = string(&result.entry, ["country", "iso_code"])
        let regionCode = string(&result.entry, ["subdivisions", "0", "iso_code"])
        return Geo(country: country, region: regionCode.isEmpty || country.isEmpty ? "" : "\(country)-\(regionCode)")
    }

    private func string(_ entry: inout MMDB_entry_s, _ path: [String]) -> String {
        var data = MMDB_entry_data_s()
        var cPath = path.map { strdup($0) } + [nil]
        defer { cPath.forEach { free($0) } }
        let status = cPath.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                MMDB_aget_value(&entry, &data, $0)
            }
        }
        guard status == MMDB_SUCCESS, data.has_data, data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING),
              let pointer = data.utf8_string else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(data.data_size))
        return String(decoding: bytes.prefix(8), as: UTF8.self)
    }
}

/// The zero-configuration default: Debian's geoip-database, the legacy country files read through
/// libgeoip (country only).
public final class LegacyGeoIPLocator: GeoLocator, @unchecked Sendable {
    public static let defaultV4Path = "/usr/share/GeoIP/GeoIP.dat"
    public static let defaultV6Path = "/usr/share/GeoIP/GeoIPv6.dat"
    private let v4: UnsafeMutablePointer<GeoIP>?
    private let v6: UnsafeMutablePointer<GeoIP>?
    // libGeoIP's lookups are not documented as thread-safe; one lock keeps them serial.
    private let lock = Mutex(())

    public init?(v4Path: String = defaultV4Path, v6Path: String = defaultV6Path) {
        guard FileManager.default.fileExists(atPath: v4Path) else { return nil }
        v4 = GeoIP_open(v4Path, Int32(GEOIP_MEMORY_CACHE.rawValue))
        v6 = FileManager.default.fileExists(atPath: v6Path) ? GeoIP_open(v6Path, Int32(GEOIP_MEMORY_CACHE.rawValue)) : nil
        if v4 == nil { return nil }
    }

    deinit {
        if let v4 { GeoIP_delete(v4) }
        if let v6 { GeoIP_delete(v6) }
    }

    public func locate(_ ip: IPAddress) -> Geo {
        lock.withLock { _ in
            let code: UnsafePointer<CChar>?
            if ip.isV4 {
                let number = ip.bytes.reduce(UInt(0)) { $0 << 8 | UInt($1) }
                code = GeoIP_country_code_by_ipnum(v4, number)
            } else if let v6 {
                var address = in6_addr()
                withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: ip.bytes) }
                code = GeoIP_country_code_by_ipnum_v6(v6, address)
            } else {
                code = nil
            }
            guard let code else { return Geo() }
            let country = String(cString: code)
            return country.count == 2 && country != "--" ? Geo(country: country) : Geo()
        }
    }
}
