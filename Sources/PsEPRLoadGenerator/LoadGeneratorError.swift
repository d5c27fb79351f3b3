/// A load run that cannot go on, and why.
public struct LoadGeneratorError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
