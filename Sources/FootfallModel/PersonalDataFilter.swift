import Foundation

/// Keeps personal data out of every free-text field a stranger can send that is stored without
/// consent: paths, titles, UTM values, event names, click targets, property keys and values.
/// Raw events are written to the log before anything else happens, and dimensions outlive
/// retention and erasure, so none may hold an email address or a phone number: a newsletter's
/// `utm_term=ann@example.org`, a `/unsubscribe/ann@example.org` path or a page titled
/// "Inbox – ann@example.org" is stored with that part replaced.
///
/// What counts: a word holding an email address (also percent-encoded), and an international
/// phone number (`+` and at least `phoneDigitsMin` digits, with spaces, dashes, dots, slashes or
/// brackets between them). Plain digit runs are left alone: they are order numbers and product
/// ids far more often than phone numbers, and paths are full of them.
public enum PersonalDataFilter {
    public static let placeholder = "(redacted)"
    static let phoneDigitsMin = 8

    public static func looksLikeEmail(_ text: some StringProtocol) -> Bool {
        guard let at = text.firstIndex(of: "@"), at != text.startIndex else { return false }
        let domain = text[text.index(after: at)...]
        guard let dot = domain.lastIndex(of: "."), dot != domain.startIndex else { return false }
        return domain.index(after: dot) != domain.endIndex
    }

    /// The text with every word that holds an email address, and every phone number, replaced by
    /// the placeholder; everything else kept as it was.
    public static func scrubbed(_ text: String) -> String {
        guard text.contains(where: { $0 == "@" || $0 == "%" || $0 == "+" }) else { return text }
        var out = ""
        var word = ""
        func flushWord() {
            out += holdsEmail(word) ? placeholder : word
            word = ""
        }
        for character in text {
            if character.isWhitespace {
                flushWord()
                out.append(character)
            } else {
                word.append(character)
            }
        }
        flushWord()
        return withoutPhoneNumbers(out)
    }

    /// A path with every segment that holds personal data replaced.
    public static func scrubbedPath(_ path: String) -> String {
        guard path.contains(where: { $0 == "@" || $0 == "%" || $0 == "+" }) else { return path }
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { segment in scrubbed(String(segment)) == String(segment) ? String(segment) : placeholder }
            .joined(separator: "/")
    }

    /// Whether any of the text would be replaced.
    public static func holdsPersonalData(_ text: String) -> Bool { scrubbed(text) != text }

    private static func holdsEmail(_ word: String) -> Bool {
        if looksLikeEmail(word) { return true }
        guard word.contains("%"), let decoded = word.removingPercentEncoding, decoded != word else { return false }
        return looksLikeEmail(decoded) || withoutPhoneNumbers(decoded) != decoded
    }

    /// Replaces each `+` followed by a phone number's digits and separators.
    private static func withoutPhoneNumbers(_ text: String) -> String {
        guard text.contains("+") else { return text }
        let characters = Array(text)
        var out = ""
        var index = 0
        while index < characters.count {
            guard characters[index] == "+", let end = phoneNumberEnd(characters, from: index + 1) else {
                out.append(characters[index])
                index += 1
                continue
            }
            out += placeholder
            index = end
        }
        return out
    }

    /// Where a phone number that starts after a `+` at `start` ends (one past its last digit),
    /// or nil when there is none.
    private static func phoneNumberEnd(_ characters: [Character], from start: Int) -> Int? {
        var digits = 0
        var end: Int?
        var index = start
        while index < characters.count {
            let character = characters[index]
            if character.isASCII && character.isNumber {
                digits += 1
                end = index + 1
            } else if !" -./()".contains(character) || index == start {
                break
            }
            index += 1
        }
        return digits >= phoneDigitsMin ? end : nil
    }
}
