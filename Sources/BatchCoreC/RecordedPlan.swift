import BatchCore
import BatchCoreRedis

/// What a C batch was configured with, as bc_redis_submit puts it on Redis:
/// the stages, their options and the batch options in the order they were
/// set, and the document sources. The engine checked each when it was set.
struct RecordedPlan {
    private var stages: [BatchPlan.Stage] = []
    private var options: [[String]] = []
    private(set) var sources: [any DocumentSource] = []
    /// What the first document held in memory is: such a batch cannot be submitted.
    private var firstContent: String? = nil

    mutating func addStage(processor: String, label: String) {
        stages.append(.init(processor: processor, label: label, options: [:]))
    }

    /// `stage` nil is the last stage, as bc_batch_set_stage has it.
    mutating func setStage(_ stage: String?, _ key: String, _ value: String) {
        guard let index = stage.map({ label in stages.firstIndex { $0.label == label } }) ?? stages.indices.last else { return }
        stages[index].options[key] = value
    }

    mutating func set(_ key: String, _ value: String) { options.append([key, value]) }

    mutating func add(_ source: any DocumentSource) {
        if source is ContentSource {
            firstContent = firstContent ?? source.identity
        } else {
            sources.append(source)
        }
    }

    mutating func add(contents: [ContentSource]) { firstContent = firstContent ?? contents.first?.identity }

    /// The plan workers run. Documents held in memory cannot travel: workers read paths.
    func plan(tenant: String, leaseMilliseconds: Int64) throws -> BatchPlan {
        guard !stages.isEmpty else {
            throw BatchCoreError(.state, "the batch has no stage: add one with bc_batch_add_stage before submitting it")
        }
        if let firstContent {
            throw BatchCoreError(.input, "\(firstContent) is held in memory: a distributed batch's documents are paths every worker reads; add files (bc_batch_add_file, _dir, _manifest, _list) instead")
        }
        return BatchPlan(stages: stages, options: options, tenant: tenant, leaseMilliseconds: leaseMilliseconds)
    }
}
