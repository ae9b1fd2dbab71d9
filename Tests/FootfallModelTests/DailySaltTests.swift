import FootfallCrypto
@testable import FootfallModel
import Testing

@Suite struct DailySaltRatchetTests {
    let seed = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    @Test func sameSeedAndDay_giveTheSameSalt() {
        let a = DailySaltRatchet(day: may1st2024, seed: seed)
        let b = DailySaltRatchet(day: may1st2024, seed: seed)
        #expect(a.salt == b.salt)
        #expect(a.salt.count == 32)
        var c = a, d = b
        c.advance(to: may1st2024.advanced(by: 10))
        d.advance(to: may1st2024.advanced(by: 10))
        #expect(c.salt == d.salt)
        #expect(c.seed == d.seed)
    }

    @Test func differentSeeds_giveDifferentSalts() {
        var other = seed
        other[31] ^= 1
        #expect(DailySaltRatchet(day: may1st2024, seed: seed).salt != DailySaltRatchet(day: may1st2024, seed: other).salt)
    }

    @Test func advancingOneDayTwice_equalsAdvancingTwoDays() {
        var stepwise = DailySaltRatchet(day: may1st2024, seed: seed)
        stepwise.advance(to: may1st2024.advanced(by: 1))
        stepwise.advance(to: may1st2024.advanced(by: 2))
        var jump = DailySaltRatchet(day: may1st2024, seed: seed)
        jump.advance(to: may1st2024.advanced(by: 2))
        #expect(stepwise == jump)
        #expect(stepwise.salt == jump.salt)
        #expect(jump.day == may1st2024.advanced(by: 2))
    }

    @Test func advancing_movesTheSeedForward() {
        var ratchet = DailySaltRatchet(day: may1st2024, seed: seed)
        ratchet.advance(to: may1st2024.advanced(by: 1))
        #expect(ratchet.seed != seed)
        #expect(ratchet.seed.count == 32)
    }

    @Test func advancingToTheSameDay_changesNothing() {
        var ratchet = DailySaltRatchet(day: may1st2024, seed: seed)
        ratchet.advance(to: may1st2024)
        #expect(ratchet == DailySaltRatchet(day: may1st2024, seed: seed))
    }

    @Test func saltDiffersEveryDay() {
        var ratchet = DailySaltRatchet(day: may1st2024, seed: seed)
        var salts = Set<[UInt8]>()
        for offset in 0..<400 {
            ratchet.advance(to: may1st2024.advanced(by: offset))
            salts.insert(ratchet.salt)
        }
        #expect(salts.count == 400)
    }

    @Test func ratchetAtTheNextDay_cannotProduceYesterdaysSalt() {
        let today = DailySaltRatchet(day: may1st2024, seed: seed)
        let todaysSalt = today.salt
        var tomorrow = today
        tomorrow.advance(to: may1st2024.advanced(by: 1))

        // Asked to go back, it stays where it is.
        var rewound = tomorrow
        rewound.advance(to: may1st2024)
        #expect(rewound == tomorrow)
        #expect(rewound.day == may1st2024.advanced(by: 1))
        #expect(rewound.salt != todaysSalt)

        // Neither does anything it can reach, nor its seed relabelled as the earlier day.
        var later = tomorrow
        for offset in 1...60 {
            later.advance(to: may1st2024.advanced(by: offset))
            #expect(later.salt != todaysSalt)
            #expect(later.seed != today.seed)
        }
        #expect(DailySaltRatchet(day: may1st2024, seed: tomorrow.seed).salt != todaysSalt)
    }

    @Test func salt_isNotTheSeed_andDependsOnTheDayLabel() {
        let ratchet = DailySaltRatchet(day: may1st2024, seed: seed)
        #expect(ratchet.salt != ratchet.seed)
        #expect(DailySaltRatchet(day: may1st2024.advanced(by: 1), seed: seed).salt != ratchet.salt)
    }
}

@Suite struct VisitorIDTests {
    let salt = DailySaltRatchet(day: may1st2024, seed: [UInt8](repeating: 7, count: 32)).salt
    let example = FootfallModelTests.site("example.com")
    let other = FootfallModelTests.site("other.org")
    let ip: [UInt8] = [203, 0, 113, 9]
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

    func id(salt: [UInt8]? = nil, site: SiteID? = nil, ip: [UInt8]? = nil, userAgent: String? = nil) -> VisitorID {
        VisitorID.cookieless(salt: salt ?? self.salt, site: site ?? example, ip: ip ?? self.ip, userAgent: userAgent ?? chrome)
    }

    @Test func cookieless_isStableForTheSameInputs() {
        #expect(id() == id())
        #expect(VisitorID.cookieless(salt: salt, site: example, ip: ip, userAgent: chrome) == id())
    }

    @Test func cookieless_differsAcrossDays() {
        var ratchet = DailySaltRatchet(day: may1st2024, seed: [UInt8](repeating: 7, count: 32))
        var ids = Set<VisitorID>()
        for offset in 0..<30 {
            ratchet.advance(to: may1st2024.advanced(by: offset))
            ids.insert(id(salt: ratchet.salt))
        }
        #expect(ids.count == 30)
    }

    @Test func cookieless_differsAcrossSites() {
        #expect(id(site: example) != id(site: other))
        #expect(id(site: FootfallModelTests.site("a.com")) != id(site: FootfallModelTests.site("a.com.evil")))
    }

    @Test func cookieless_differsAcrossIPs() {
        #expect(id(ip: [203, 0, 113, 9]) != id(ip: [203, 0, 113, 10]))
        #expect(id(ip: IPAddress("2001:db8::1")!.bytes) != id(ip: IPAddress("2001:db8::2")!.bytes))
    }

    @Test func cookieless_differsAcrossUserAgents() {
        #expect(id(userAgent: chrome) != id(userAgent: firefox))
        #expect(id(userAgent: "") != id(userAgent: " "))
    }

    @Test func cookieless_fieldBoundariesCannotBeShifted() {
        // Concatenated without separators these two would be the same bytes: "ab.com" 1 2 3 4 "x".
        let a = id(site: FootfallModelTests.site("ab.com"), ip: [1, 2, 3, 4], userAgent: "x")
        let b = id(site: FootfallModelTests.site("ab.co"), ip: [UInt8(ascii: "m"), 1, 2, 3], userAgent: "\u{4}x")
        #expect(a != b)
    }

    @Test func consented_isStablePerSiteAndClient() {
        #expect(VisitorID.consented(site: example, clientID: "c-123") == VisitorID.consented(site: example, clientID: "c-123"))
        #expect(VisitorID.consented(site: example, clientID: "c-123") != VisitorID.consented(site: example, clientID: "c-124"))
    }

    @Test func consented_differsAcrossSites_promise5() {
        for client in ["c-123", "", "00000000-0000-0000-0000-000000000000"] {
            #expect(VisitorID.consented(site: example, clientID: client) != VisitorID.consented(site: other, clientID: client))
        }
        // No shifting of the site/client boundary either.
        #expect(VisitorID.consented(site: FootfallModelTests.site("a.com"), clientID: "x") != VisitorID.consented(site: FootfallModelTests.site("a.co"), clientID: "mx"))
    }

    @Test func consentedAndCookieless_areDifferentIdSpaces() {
        #expect(VisitorID.consented(site: example, clientID: chrome) != id())
    }

    @Test func hex_roundTrips() {
        for raw: UInt64 in [0, 1, 0xDEAD_BEEF, .max, id().rawValue] {
            let visitor = VisitorID(rawValue: raw)
            #expect(visitor.description.count == 16)
            #expect(VisitorID(hex: visitor.description) == visitor)
            #expect(VisitorID(hex: visitor.description.uppercased()) == visitor)
        }
        #expect(VisitorID(rawValue: 0xAB).description == "00000000000000ab")
    }

    @Test(arguments: ["", "ab", "00000000000000a", "00000000000000abc", "000000000000000g", "0x000000000000ab", " 00000000000000a"])
    func badHex_isRejected(hex: String) {
        #expect(VisitorID(hex: hex) == nil)
    }
}
