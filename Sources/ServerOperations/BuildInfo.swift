/// The version both commands print for `--version`, and the build they were compiled as.
public enum BuildInfo {
    /// The release version of this implementation.
    public static let version = "1.0.0"

    /// How this binary was built: configuration, compiler and platform.
    public static var build: String {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        #if compiler(>=6.3)
        let compiler = "swift 6.3+"
        #elseif compiler(>=6.2)
        let compiler = "swift 6.2"
        #else
        let compiler = "swift 6.1"
        #endif
        #if os(Linux)
        let system = "linux"
        #elseif os(macOS)
        let system = "macos"
        #else
        let system = "unknown-os"
        #endif
        #if arch(x86_64)
        let architecture = "x86_64"
        #elseif arch(arm64)
        let architecture = "arm64"
        #else
        let architecture = "unknown-arch"
        #endif
        return "\(configuration) build, \(compiler), \(system) \(architecture)"
    }

    /// `NAME VERSION (BUILD)`, the line `--version` prints.
    public static func versionLine(command: String) -> String { "\(command) \(version) (\(build))" }
}
