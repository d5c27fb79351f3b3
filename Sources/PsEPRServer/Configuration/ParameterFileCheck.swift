import PsEPRCore

/// Finds what in a `PsEPRServer.xml` has no effect: a root element other than `<PsEPRServer>`
/// and parameters this server does not read (misspellings, mostly), each named by its file and
/// path, with the nearest known name when one is close.
enum ParameterFileCheck {
    /// Every parameter name the server reads, lowercased.
    static let knownNames: Set<String> = Set(ServerSettings().effectiveParameters.all.map { $0.name.lowercased() })
    /// The known names as spelt, for suggestions.
    static let spelledNames: [String] = ServerSettings().effectiveParameters.all.map(\.name)

    /// The warnings for one file's parameters.
    static func warnings(for parameters: ParameterSet, source: String) -> [String] {
        var warnings: [String] = []
        var wrongRoots: [String] = []
        for (name, _) in parameters.all {
            let root = name.split(separator: "/").first.map(String.init) ?? ""
            guard root.lowercased() == "pseprserver" else {
                if !wrongRoots.contains(root) { wrongRoots.append(root) }
                continue
            }
            guard !knownNames.contains(name.lowercased()) else { continue }
            var warning = "\(source): unknown parameter \(name), ignored"
            if let suggestion = nearestKnownName(to: name) { warning += " (did you mean \(suggestion)?)" }
            warnings.append(warning)
        }
        for root in wrongRoots {
            warnings.append(
                "\(source): the root element is <\(root)>, not <PsEPRServer>, so none of its parameters apply"
            )
        }
        return warnings
    }

    /// The known name within a few edits of `name`, if one is.
    static func nearestKnownName(to name: String) -> String? {
        let target = Array(name.lowercased().utf8)
        var best: (name: String, distance: Int)?
        for known in spelledNames {
            let distance = editDistance(target, Array(known.lowercased().utf8))
            if distance <= 3, distance < best?.distance ?? .max { best = (known, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance.
    private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
