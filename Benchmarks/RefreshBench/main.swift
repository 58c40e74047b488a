// Measures the refresh scheduler on a burst: CONNECTORS connectors come due at once, the fake provider takes 20 ms
// over every refresh, and one scheduler renews them all with CONCURRENCY provider calls in flight. Prints a table,
// then one JSON line; scripts/bench refresh runs it against a throwaway cluster.
//
//   RefreshBench URL CONNECTORS CONCURRENCY [BATCH]
import Foundation

guard let settings = BenchSettings(arguments: CommandLine.arguments) else {
    FileHandle.standardError.write(Data("usage: RefreshBench URL CONNECTORS CONCURRENCY [BATCH]\n".utf8))
    exit(2)
}
let result = try await RefreshBench(settings: settings).run()
print(result.table)
print(result.json)
