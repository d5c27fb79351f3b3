import DP5Core
import Foundation

/// A `datadir`: the published databases, as `meta<E>.dat` and `data<E>.dat` (decimal epoch, the
/// original's names). The data file is written first and the metadata last, both atomically, so
/// a metadata file means its epoch is complete.
struct PublicationDirectory: Sendable {
    let path: String

    func metadataPath(_ epoch: Epoch) -> String { path + "/meta\(epoch).dat" }
    func dataPath(_ epoch: Epoch) -> String { path + "/data\(epoch).dat" }

    func isPublished(_ epoch: Epoch) -> Bool { FileManager.default.fileExists(atPath: metadataPath(epoch)) }

    func publish(metadata: [UInt8], data: some ContiguousBytes, epoch: Epoch) throws {
        try DurableFiles.writeAtomically(data, to: dataPath(epoch))
        try DurableFiles.writeAtomically(metadata, to: metadataPath(epoch))
    }

    func metadataBytes(_ epoch: Epoch) -> [UInt8]? {
        FileManager.default.contents(atPath: metadataPath(epoch)).map { [UInt8]($0) }
    }

    /// The data file, memory-mapped: every request reads the same pages, nothing is copied.
    func mappedData(_ epoch: Epoch) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: dataPath(epoch)), options: .alwaysMapped)
    }

    /// Loads an epoch's files and checks them against each other and the configuration.
    func loadResponder(_ epoch: Epoch, configuration: DP5Configuration) throws -> LookupResponder? {
        guard let bytes = metadataBytes(epoch) else { return nil }
        let metadata = try Metadata(rawRepresentation: bytes)
        guard metadata.epoch == epoch else {
            throw DP5ServerError.corruptDatabase("\(metadataPath(epoch)) describes epoch \(metadata.epoch)")
        }
        try metadata.check(matches: configuration)
        return try LookupResponder(metadata: metadata, data: mappedData(epoch))
    }

    /// Epochs with a metadata file, newest first.
    func publishedEpochs() -> [Epoch] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { name -> Epoch? in
            guard name.hasPrefix("meta"), name.hasSuffix(".dat") else { return nil }
            return UInt32(String(name.dropFirst(4).dropLast(4))).map { Epoch($0) }
        }.sorted(by: >)
    }

    /// Deletes the files of every epoch older than `oldest`.
    func removeEpochs(before oldest: Epoch) {
        for epoch in publishedEpochs() where epoch < oldest {
            try? FileManager.default.removeItem(atPath: metadataPath(epoch))
            try? FileManager.default.removeItem(atPath: dataPath(epoch))
        }
    }
}
