/// Named parameters read from PsEPR parameter files (`PsEPRServer.xml`, `jClient.xml`).
///
/// Each leaf element's text is a parameter named by the `/`-joined path of element names from the
/// root: `<PsEPRServer><debug><filterLevel>0xB062</filterLevel></debug></PsEPRServer>` gives
/// `/PsEPRServer/debug/filterLevel = 0xB062`. Names match without regard to case (the Server
/// Guide spells one path both `leasepeer` and `leasePeer`). Later values replace earlier ones, so
/// files read in search-path order override each other; `<comment>` elements are notes, not
/// parameters.
public struct ParameterSet: Sendable, Hashable {
    private var values: [String: Entry] = [:]

    private struct Entry: Sendable, Hashable {
        var name: String
        var value: String
    }

    /// An empty set.
    public init() {}

    /// Parses a parameter file's bytes.
    ///
    /// - Throws: ``PsEPRError/Code/malformedXML`` for a file that is not one well-formed element.
    public init(xml bytes: some Collection<UInt8>) throws {
        self.init()
        try merge(xml: bytes)
    }

    /// Adds the parameters of a parameter file, replacing any with the same names.
    public mutating func merge(xml bytes: some Collection<UInt8>) throws {
        let root = try ParsedElement.parse(bytes, maximumDepth: 16)
        collect(root, path: "")
    }

    private mutating func collect(_ element: ParsedElement, path: String) {
        guard element.localName.lowercased() != "comment" else { return }
        let name = path + "/" + element.localName
        if element.children.isEmpty {
            set(name, element.text.trimmingXMLWhitespace())
        } else {
            for child in element.children { collect(child, path: name) }
        }
    }

    /// Sets one parameter.
    public mutating func set(_ name: String, _ value: String) {
        values[name.lowercased()] = Entry(name: name, value: value)
    }

    /// Removes one parameter.
    public mutating func remove(_ name: String) {
        values[name.lowercased()] = nil
    }

    /// The value of `name`, or `nil`.
    public subscript(name: String) -> String? { values[name.lowercased()]?.value }

    /// Every parameter as (name as first spelled, value), sorted by name.
    public var all: [(name: String, value: String)] {
        values.values.sorted { $0.name.lowercased() < $1.name.lowercased() }.map { ($0.name, $0.value) }
    }

    /// Number of parameters.
    public var count: Int { values.count }

    /// The parameters in the parameter-file form, nested elements by path
    /// (`/a/b = 1`, `/a/c = 2` → `<a><b>1</b><c>2</c></a>`), as the parameter report sends them.
    public var nestedXML: String {
        final class Node {
            var value: String?
            var children: [(String, Node)] = []
            func child(_ name: String) -> Node {
                if let found = children.first(where: { $0.0 == name }) { return found.1 }
                let node = Node()
                children.append((name, node))
                return node
            }
        }
        let root = Node()
        for (name, value) in all {
            var node = root
            for segment in name.split(separator: "/") { node = node.child(String(segment)) }
            node.value = value
        }
        func write(_ node: Node, into xml: inout XMLWriter) {
            for (name, child) in node.children {
                if let value = child.value, child.children.isEmpty {
                    xml.element(name, text: value)
                } else {
                    xml.element(name) { write(child, into: &$0) }
                }
            }
        }
        var xml = XMLWriter()
        write(root, into: &xml)
        return xml.string
    }

    /// The text of `name`, or `fallback` when it is absent or empty.
    public func string(_ name: String, default fallback: String) -> String {
        guard let value = self[name], !value.isEmpty else { return fallback }
        return value
    }

    /// The integer value of `name`, decimal or `0x` hexadecimal (as Java's `Long.decode`), or
    /// `fallback` when absent.
    ///
    /// - Throws: ``ParameterError`` naming the parameter when the text is not such a number.
    public func integer(_ name: String, default fallback: Int) throws -> Int {
        guard let text = self[name], !text.isEmpty else { return fallback }
        guard let value = Self.decodeInteger(text) else {
            throw ParameterError(name: name, value: text, expected: "an integer (decimal or 0x hexadecimal)")
        }
        return value
    }

    /// The yes/no value of `name` (`yes`/`no`, `true`/`false`, `1`/`0`, `on`/`off`), or `fallback`.
    ///
    /// - Throws: ``ParameterError`` for any other text.
    public func boolean(_ name: String, default fallback: Bool) throws -> Bool {
        guard let text = self[name]?.lowercased(), !text.isEmpty else { return fallback }
        switch text {
        case "yes", "true", "1", "on": return true
        case "no", "false", "0", "off": return false
        default: throw ParameterError(name: name, value: text, expected: "yes or no")
        }
    }

    /// Parses `123`, `-5`, `0x1F`, `#1F` (Java's `Long.decode` forms without octal).
    public static func decodeInteger(_ text: String) -> Int? {
        var digits = Substring(text)
        var negative = false
        if digits.hasPrefix("-") {
            negative = true
            digits = digits.dropFirst()
        } else if digits.hasPrefix("+") {
            digits = digits.dropFirst()
        }
        let value: Int?
        if digits.lowercased().hasPrefix("0x") {
            value = Int(digits.dropFirst(2), radix: 16)
        } else if digits.hasPrefix("#") {
            value = Int(digits.dropFirst(), radix: 16)
        } else {
            value = Int(digits, radix: 10)
        }
        return value.map { negative ? -$0 : $0 }
    }
}

/// A parameter whose text is not of the expected kind.
public struct ParameterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The parameter's name.
    public let name: String
    /// Its text.
    public let value: String
    /// What it should have been.
    public let expected: String

    /// Creates an error.
    public init(name: String, value: String, expected: String) {
        self.name = name
        self.value = value
        self.expected = expected
    }

    public var description: String { "parameter \(name) is \"\(value.prefix(60))\", expected \(expected)" }
}
