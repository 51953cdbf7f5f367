import ArgumentParser
import BatchCore
import Glibc

/// The inputs of `submit` as document sources, read lazily.
struct DocumentInputs {
    let inputs: [String]
    let glob: String?
    let manifests: [String]
    let lists: [String]

    func sources() throws -> [any DocumentSource] {
        var sources: [any DocumentSource] = []
        for input in inputs {
            if input == "-" {
                sources.append(try ListSource(path: "-"))
                continue
            }
            if RemoteInput.isRemote(input) {
                sources.append(try RemoteInput.source(input))
                continue
            }
            var info = stat()
            guard FileNameBytes.withCString(input, { stat($0, &info) }) == 0 else {
                throw BatchCoreError(.notFound, "input '\(input)' does not exist")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                sources.append(try DirectorySource(root: input, glob: glob))
            } else {
                sources.append(try FileSource(path: input, id: nil, metadata: nil))
            }
        }
        for file in manifests { sources.append(try ManifestSource(path: file)) }
        for file in lists { sources.append(try ListSource(path: file)) }
        guard !sources.isEmpty else {
            throw ValidationError("no input: give files, directories, --manifest FILE, --list FILE, or - to read paths from standard input")
        }
        return sources
    }
}
