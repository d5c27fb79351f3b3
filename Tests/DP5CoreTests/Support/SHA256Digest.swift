import Crypto
import DP5Core

enum SHA256Digest {
    static func hex(of bytes: [UInt8]) -> String { Array(SHA256.hash(data: bytes)).hexString }
}
