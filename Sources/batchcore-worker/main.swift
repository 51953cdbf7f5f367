// The worker process of `isolation=process`: started by the engine with one
// end of a socketpair on fd 3, it runs one stage's processor and answers the
// engine's documents (see Sources/BatchCore/Isolation).
import BatchCore
import Glibc

exit(WorkerServer.main(arguments: CommandLine.arguments))
