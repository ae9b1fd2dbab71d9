/// Keeps personal data out of values that become dimensions (paths, UTM values, event names,
/// click targets, properties). Dimensions outlive retention and erasure, so they must never hold
/// an email address: a newsletter's `utm_term=ann@example.org` or a `/unsubscribe/ann@example.org`
/// path is stored with that part replaced.
public enum PersonalDataFilter {
    public static let placeholder = "(redacted)"

    public static func looksLikeEmail(_ text: some StringProtocol) -> Bool {
        guard let at = text.firstIndex(of: "@"), at != text.startIndex else { return false }
        let domain = text[text.index(after: at)...]
        guard let dot = domain.lastIndex(of: "."), dot != domain.startIndex else { return false }
        return domain.index(after: dot) != domain.endIndex
    }

    /// The value, or the placeholder if it holds an email address (also percent-encoded).
    public static func scrubbed(_ value: String) -> String {
        looksLikeEmail(value) || looksLikeEmail(value.replacingOccurrences(of: "%40", with: "@")) ? placeholder : value
    }

    /// A path with every segment that holds an email address replaced.
    public static func scrubbedPath(_ path: String) -> String {
        guard path.contains("@") || path.contains("%40") else { return path }
        return path.split(separator: "/", omittingEmptySubsequences: false).map { scrubbed(String($0)) }.joined(separator: "/")
    }
}
