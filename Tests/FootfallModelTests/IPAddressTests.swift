@testable import FootfallModel
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [("192.168.1.1", [192, 168, 1, 1]), ("0.0.0.0", [0, 0, 0, 0]), ("255.255.255.255", [255, 255, 255, 255]),
                      ("203.0.113.9", [203, 0, 113, 9]), (" 10.0.0.1\t", [10, 0, 0, 1]), ("010.001.000.009", [10, 1, 0, 9])] as [(String, [UInt8])])
    func ipv4_parses(text: String, bytes: [UInt8]) {
        let ip = IPAddress(text)
        #expect(ip?.bytes == bytes)
        #expect(ip?.isV4 == true)
    }

    static func v6(_ groups: [UInt16]) -> [UInt8] { groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] } }

    @Test(arguments: [
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", v6([0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329])),
        ("2001:db8::ff00:42:8329", v6([0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329])),
        ("2001:DB8::FF00:42:8329", v6([0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329])),
        ("::1", v6([0, 0, 0, 0, 0, 0, 0, 1])),
        ("::", v6([0, 0, 0, 0, 0, 0, 0, 0])),
        ("fe80::", v6([0xfe80, 0, 0, 0, 0, 0, 0, 0])),
        ("1:2:3:4:5:6:7::", v6([1, 2, 3, 4, 5, 6, 7, 0])),
        ("::2:3:4:5:6:7:8", v6([0, 2, 3, 4, 5, 6, 7, 8])),
        ("1:2:3:4:5:6:7:8", v6([1, 2, 3, 4, 5, 6, 7, 8])),
        ("64:ff9b::192.0.2.33", v6([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221])),
        ("1:2:3:4:5:6:10.0.0.1", v6([1, 2, 3, 4, 5, 6, 0x0a00, 0x0001])),
        ("[2001:db8::1]", v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
        ("fe80::1%eth0", v6([0xfe80, 0, 0, 0, 0, 0, 0, 1])),
        ("[fe80::abcd%25en0]", v6([0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd])),
    ] as [(String, [UInt8])])
    func ipv6_parses(text: String, bytes: [UInt8]) {
        let ip = IPAddress(text)
        #expect(ip?.bytes == bytes)
        #expect(ip?.isV4 == false)
    }

    @Test(arguments: ["::ffff:192.0.2.1", "::FFFF:192.0.2.1", "::ffff:c000:0201", "0:0:0:0:0:ffff:192.0.2.1", "[::ffff:192.0.2.1]"])
    func ipv4MappedIPv6_foldsToIPv4(text: String) {
        let ip = IPAddress(text)
        #expect(ip?.bytes == [192, 0, 2, 1])
        #expect(ip?.isV4 == true)
        #expect(ip == IPAddress("192.0.2.1"))
    }

    @Test func equalAddresses_inDifferentForms_areEqual() {
        #expect(IPAddress("2001:db8::1") == IPAddress("2001:0db8:0000:0000:0000:0000:0000:0001"))
        #expect(IPAddress("[2001:db8::1]") == IPAddress("2001:db8::1"))
    }

    @Test(arguments: ["", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.+4", "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4 5",
                      "1.2.3.0004", "a.b.c.d", "١.٢.٣.٤", "1.2.3.4%eth0", "localhost", "example.com",
                      "::g", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":::", "1:::2", "12345::", "::ffff:1.2.3", "::1.2.3.256",
                      "::1.2.3.4:5", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "[::1", "::1]",
                      "[::1]:8080", "1.2.3.4:80", "::1 ::2", String(repeating: "1", count: 100)])
    func junk_isRejected(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test
    func embeddedIPv4BeforeTheDoubleColon_isRejected() {
        #expect(IPAddress("1.2.3.4::") == nil)
        #expect(IPAddress("1:1.2.3.4::1") == nil)
    }

    @Test
    func signedGroups_areRejected() {
        #expect(IPAddress("::+1") == nil)
        #expect(IPAddress("::-0") == nil)
        #expect(IPAddress("2001:db8::+ff") == nil)
    }

    @Test func bytesInit_acceptsOnly4Or16Bytes() {
        #expect(IPAddress(bytes: [1, 2, 3, 4])?.isV4 == true)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 16))?.isV4 == false)
        for count in [0, 1, 3, 5, 15, 17, 32] {
            #expect(IPAddress(bytes: [UInt8](repeating: 0, count: count)) == nil)
        }
    }

    @Test func randomText_neverTraps_andWhatParsesHasAValidLength() {
        var rng = SplitMix64(seed: 77)
        let alphabet = Array("0123456789abcdefABCDEF:.[]%+- \t")
        for _ in 0..<50_000 {
            let text = String((0..<Int.random(in: 0...45, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if let ip = IPAddress(text) {
                #expect(ip.bytes.count == 4 || ip.bytes.count == 16, "\(text)")
            }
        }
    }
}
