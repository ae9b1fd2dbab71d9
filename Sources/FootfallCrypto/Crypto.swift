import COpenSSL

/// The few cryptographic primitives Footfall needs, from OpenSSL's libcrypto.
///
/// Everything here is deterministic except `randomBytes`, which reads the OS generator through
/// OpenSSL; callers that must be replayable (protocol state machines) take randomness as input
/// instead of calling it.
public enum Crypto {
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let input = Array(data)
        input.withUnsafeBufferPointer { buffer in
            _ = SHA256(buffer.baseAddress, buffer.count, &digest)
        }
        return digest
    }

    public static func hmacSHA256(key: [UInt8], data: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let input = Array(data)
        key.withUnsafeBufferPointer { keyBuffer in
            input.withUnsafeBufferPointer { dataBuffer in
                _ = HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                         dataBuffer.baseAddress, dataBuffer.count, &digest, &length)
            }
        }
        return digest
    }

    /// Memory-hard password hashing (RFC 7914). The defaults cost about 32 MiB and tens of
    /// milliseconds, which bounds an offline guessing attack on a stolen database.
    public static func scrypt(
        password: [UInt8], salt: [UInt8], costN: UInt64 = 1 << 15, blockSizeR: UInt64 = 8,
        parallelismP: UInt64 = 1, length: Int = 32
    ) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        let maxMemory: UInt64 = 128 * costN * blockSizeR * parallelismP + (1 << 20)
        let status = password.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { s in
                password.withUnsafeBytes { pwRaw in
                    EVP_PBE_scrypt(
                        pwRaw.baseAddress?.assumingMemoryBound(to: CChar.self), pw.count,
                        s.baseAddress, s.count, costN, blockSizeR, parallelismP, maxMemory,
                        &output, length)
                }
            }
        }
        precondition(status == 1, "EVP_PBE_scrypt failed for N=\(costN) r=\(blockSizeR) p=\(parallelismP)")
        return output
    }

    /// Bytes from the operating system's CSPRNG. Not for protocol logic (see type comment).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = RAND_bytes(&bytes, Int32(count))
        precondition(status == 1, "RAND_bytes failed; the OS entropy source is unavailable")
        return bytes
    }

    /// Compares secrets without leaking where they differ through timing.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }
}

public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or nil.
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
