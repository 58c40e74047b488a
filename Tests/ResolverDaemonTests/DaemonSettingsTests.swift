import Foundation
import Logging
import Testing
@testable import ResolverDaemon

/// Settings from the environment and the config file: a bad value names its setting, and the environment wins.
@Suite struct DaemonSettingsTests {
    let base = ["DATABASE_URL": "postgres://resolverd@localhost/resolverd", "RESOLVERD_KEYS_DIR": "/etc/resolverd/keys"]

    func configFile(_ json: String) throws -> ConfigFile { try ConfigFile.load(text: json) }

    @Test func theDatabasePoolSizePipelineDepthAndIOThreadsHaveDefaultsAndLimits() throws {
        var environment = base
        let defaults = try DaemonSettings(environment: environment)
        #expect(defaults.poolSize == 16 && defaults.pipelineDepth == 4 && defaults.pgIOThreads == 2)
        environment["RESOLVERD_DB_POOL_SIZE"] = "40"
        environment["RESOLVERD_DB_PIPELINE_DEPTH"] = "1"
        environment["RESOLVERD_PG_IO_THREADS"] = "4"
        let set = try DaemonSettings(environment: environment)
        #expect(set.poolSize == 40 && set.pipelineDepth == 1 && set.pgIOThreads == 4)
        for (name, bad) in [
            ("RESOLVERD_DB_POOL_SIZE", "1"), ("RESOLVERD_DB_POOL_SIZE", "many"), ("RESOLVERD_DB_PIPELINE_DEPTH", "0"),
            ("RESOLVERD_DB_PIPELINE_DEPTH", "65"), ("RESOLVERD_PG_IO_THREADS", "0"), ("RESOLVERD_PG_IO_THREADS", "two"),
        ] {
            var wrong = base
            wrong[name] = bad
            let error = #expect(throws: SettingsError.self) { try DaemonSettings(environment: wrong) }
            #expect(error?.setting == name)
            #expect(error.map { "\($0)" }?.contains("'\(bad)'") == true)
        }
    }

    @Test func theCacheSizeComesFromTheEnvironmentThenTheConfigFile() throws {
        let listen = ListenAddress(host: "127.0.0.1", port: 8080)
        let fromFile = try ConnectorsSettings(file: try configFile(#"{"cache_size": 250000}"#), listen: listen)
        #expect(fromFile.cacheSize == 250_000)
        #expect(try ConnectorsSettings(file: try configFile("{}"), listen: listen).cacheSize == nil)

        var environment = base
        #expect(try DaemonSettings(environment: environment).cacheSize == nil)
        environment["RESOLVERD_CACHE_SIZE"] = "0"
        #expect(try DaemonSettings(environment: environment).cacheSize == 0)

        environment["RESOLVERD_CACHE_SIZE"] = "lots"
        let bad = #expect(throws: SettingsError.self) { try DaemonSettings(environment: environment) }
        #expect(bad?.setting == "RESOLVERD_CACHE_SIZE")
        let negative = #expect(throws: SettingsError.self) { try ConnectorsSettings(file: try configFile(#"{"cache_size": -1}"#), listen: listen) }
        #expect(negative.map { "\($0)" }?.contains("cache_size") == true)
    }
}

@Suite struct MemoryTuningTests {
    @Test func theTrimThresholdIsSetUnlessTheOperatorTunedTheAllocator() {
        #expect(MemoryTuning.apply(environment: [:]))
        #expect(MemoryTuning.apply(environment: ["GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"]))
        #expect(!MemoryTuning.apply(environment: ["MALLOC_TRIM_THRESHOLD_": "1048576"]))
        #expect(!MemoryTuning.apply(environment: ["MALLOC_MMAP_THRESHOLD_": "1048576"]))
        #expect(!MemoryTuning.apply(environment: ["GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"]))
    }

    /// The test process's own code is paged out as the daemon's is, and the process runs on.
    @Test func startupCodeIsPagedOut() throws {
        /// Resident KiB of the executable's code mapping, from /proc/self/smaps.
        func residentCode() throws -> Int {
            let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
            var inCode = false
            var total = 0
            for line in smaps.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if let range = fields.first, range.contains("-"), fields.count >= 5 {
                    inCode = fields.count >= 6 && fields[1].hasPrefix("r-x") && fields[5] == executable
                } else if inCode, fields.first == "Rss:", let kib = Int(fields[1]) {
                    total += kib
                }
            }
            return total
        }
        let before = try residentCode()
        let advised = try #require(MemoryTuning.pageOutStartupCode(logger: Logger(label: "test")))
        let after = try residentCode()
        #expect(advised > 0)
        #expect(after < before, "\(before) KiB → \(after) KiB")
    }
}
