import FootfallModel
import Testing

/// What the personal-data filter takes out of free text a stranger sends, and what it leaves.
@Suite struct PersonalDataFilterTests {
    @Test(arguments: [
        ("Inbox – ann@example.org", "Inbox – (redacted)"),
        ("mailto:ann@example.org", "(redacted)"),
        ("ann%40example.org", "(redacted)"),
        ("Write to <ann@example.org> today", "Write to (redacted) today"),
        ("Call +49 30 1234567", "Call (redacted)"),
        ("Call +1 (555) 123-4567, ask for Ann", "Call (redacted), ask for Ann"),
        ("%2B4930123456789", "(redacted)"),
    ])
    func personalData_isReplaced_theRestKept(input: String, expected: String) {
        #expect(PersonalDataFilter.scrubbed(input) == expected)
        #expect(PersonalDataFilter.holdsPersonalData(input))
    }

    @Test(arguments: ["Pricing", "Order 123456789", "2024 vs 2025 results", "C++ tips", "a+b=c", "+1 more", "50% off", "@handle", "user@localhost"])
    func ordinaryText_isLeftAlone(input: String) {
        #expect(PersonalDataFilter.scrubbed(input) == input)
    }

    @Test func paths_loseOnlyTheSegmentsThatHoldPersonalData() {
        #expect(PersonalDataFilter.scrubbedPath("/unsubscribe/ann%40example.org/confirm") == "/unsubscribe/(redacted)/confirm")
        #expect(PersonalDataFilter.scrubbedPath("/products/123456789/reviews") == "/products/123456789/reviews")
        #expect(PersonalDataFilter.scrubbedPath("/call/+4930123456789") == "/call/(redacted)")
    }
}
