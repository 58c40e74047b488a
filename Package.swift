// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "resolverd",
    // Linux only: the database I/O is epoll, the C shims are Glibc's, the daemon is systemd's. SwiftPM has no way
    // to declare Linux, and no Apple platform builds, so none is named.
    products: [
        .executable(name: "resolverd", targets: ["ResolverDaemon"]),
        .library(name: "PGClient", targets: ["PGClient"]),
        .library(name: "ResolverCrypto", targets: ["ResolverCrypto"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // C libraries, hidden behind system-library targets.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CEventPoll"),
        .systemLibrary(name: "CSpawn"),
        .systemLibrary(name: "CMalloc"),

        // The time components read and wait by: the system's clocks in the daemon, a manual one in tests.
        .target(name: "Timekeeping", swiftSettings: strict),
        .target(
            name: "FailureLogging",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PGClient",
            dependencies: [
                "CLibPQ",
                "FailureLogging",
                "CEventPoll",
                "Timekeeping",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // No unsafeFlags here: SwiftPM refuses them in a dependency, and other packages are to depend on PGClient.
            // The hot class properties skip dynamic exclusivity checks with `@exclusivity(unchecked)` instead.
            swiftSettings: strict + [
                // Async functions run on their caller's executor instead of hopping to the global one at every
                // call: a query crosses several of them, and each hop costs a runtime lock.
                .enableUpcomingFeature("NonisolatedNonsendingByDefault")
            ]
        ),
        .target(
            name: "PGLocalCluster",
            dependencies: ["PGClient", "CSpawn", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        // The module is ResolverCrypto (in Sources/Crypto): swift-crypto, which Hummingbird's package graph
        // contains (through swift-certificates), also has a target named Crypto, and SwiftPM requires target
        // names to be unique across the whole graph, used or not; module aliases cannot rename a root target.
        .target(name: "ResolverCrypto", dependencies: ["CLibCrypto"], path: "Sources/Crypto", swiftSettings: strict),
        .target(
            name: "Connectors",
            dependencies: [
                "PGClient", "ResolverCrypto", "FailureLogging", "Timekeeping",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [.embedInCode("Catalog/providers.json")],
            swiftSettings: strict
        ),
        .target(
            name: "RefreshScheduler",
            dependencies: [
                "Connectors", "PGClient", "ResolverCrypto", "FailureLogging", "Timekeeping",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ResolverDaemon",
            dependencies: [
                "PGClient", "PGLocalCluster", "ResolverCrypto", "Connectors", "RefreshScheduler", "FailureLogging", "CMalloc", "Timekeeping",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),

        // Benchmarks: release-mode programs driven by scripts/bench.
        .executableTarget(
            name: "PGClientBench",
            dependencies: ["PGClient", "Connectors"],
            path: "Benchmarks/PGClientBench",
            swiftSettings: strict + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "ResolveBench",
            dependencies: ["Connectors", "PGClient", "ResolverCrypto"],
            path: "Benchmarks/ResolveBench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "HotPathBench",
            dependencies: ["Connectors", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/HotPathBench",
            swiftSettings: strict
        ),
        .executableTarget(name: "CryptoBench", dependencies: ["ResolverCrypto"], path: "Benchmarks/CryptoBench", swiftSettings: strict),
        .executableTarget(
            name: "RefreshBench",
            dependencies: [
                "RefreshScheduler", "Connectors", "PGClient", "ResolverCrypto", "ProviderFakes", "PGTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/RefreshBench",
            swiftSettings: strict
        ),

        // Shared by the integration tests: the test database from the environment, a schema per test,
        // private clusters for tests that restart the server.
        .target(
            name: "PGTestSupport",
            dependencies: [
                "PGClient", "PGLocalCluster", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            path: "Tests/PGTestSupport",
            swiftSettings: strict
        ),
        // Fake providers for the tests and benchmarks: real HTTP servers on loopback that behave like an OAuth
        // authorization server and an API-key service, with switches for slow answers and failures.
        .target(
            name: "ProviderFakes",
            dependencies: [
                "ResolverCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ProviderFakes",
            swiftSettings: strict
        ),
        .testTarget(
            name: "PGClientTests",
            dependencies: [
                "PGClient",
                "PGLocalCluster",
                "PGTestSupport",
                "Timekeeping",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ResolverDaemonTests",
            dependencies: [
                "ResolverDaemon", "Connectors", "PGClient", "PGLocalCluster", "ResolverCrypto", "PGTestSupport", "ProviderFakes", "FailureLogging",
                "Timekeeping",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RefreshSchedulerTests",
            dependencies: [
                "RefreshScheduler", "Connectors", "PGClient", "PGLocalCluster", "ResolverCrypto", "PGTestSupport", "ProviderFakes", "FailureLogging",
                "Timekeeping",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "TimekeepingTests", dependencies: ["Timekeeping"], swiftSettings: strict),
        .testTarget(name: "CryptoTests", dependencies: ["ResolverCrypto"], swiftSettings: strict),
        .testTarget(
            name: "ConnectorsTests",
            dependencies: [
                "Connectors", "PGClient", "ResolverCrypto", "PGTestSupport", "Timekeeping", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FailureLoggingTests", dependencies: ["FailureLogging", "PGTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
    ]
)
