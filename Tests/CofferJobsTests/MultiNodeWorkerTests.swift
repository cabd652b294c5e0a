import CofferCore
import CofferJobs
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing

/// Two "nodes" (each its own provider, worker and listener) on one database: wake-ups across nodes, leases judged
/// by the database clock, elected periodic work.
@Suite("Workers on several nodes", .serialized, .timeLimit(.minutes(1)))
struct MultiNodeWorkerTests {
    /// Two providers (two nodes' connection pools) on one fresh, migrated database.
    static func withTwoNodes<R: Sendable>(
        _ database: TestDatabase, _ body: (any DatabaseProvider, any DatabaseProvider) async throws -> R
    ) async throws -> R {
        try await database.withFreshURL { url in
            let logger = TestDatabase.logger
            let a = try await DatabaseURL.open(url, logger: logger)
            let b = try await DatabaseURL.open(url, logger: logger)
            return try await withRunning(a) {
                try await withRunning(b) {
                    try await Migrations.apply(on: a, logger: logger)
                    return try await body(a, b)
                }
            }
        }
    }

    static func group(_ services: [any Service]) -> ServiceGroup {
        ServiceGroup(services: services, gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger)
    }

    @Test("A job enqueued on node A starts on node B within well under B's poll (LISTEN/NOTIFY), also after B's listener reconnects",
          .enabled(if: TestDatabase.postgresURL != nil))
    func notifyWakesOtherNode() async throws {
        try await Self.withTwoNodes(.postgres) { a, b in
            let directory = try TemporaryDirectory(prefix: "coffer-node-b")
            defer { directory.remove() }
            let storeA = SQLJobStore(provider: a)
            let nodeB = try CofferStore(dataDirectory: directory.path, provider: b, masterKey: .random())
            let started = Shared<[String: ContinuousClock.Instant]>([:])
            let handler = ScriptedHandler(isIdempotent: false) { _, job in started.update { $0[job.id] = .now } }
            var configuration = JobWorker.Configuration()
            configuration.concurrency = 1
            configuration.pollInterval = .seconds(20)
            configuration.recoveryInterval = .seconds(20)
            let doorbell = Doorbell()
            let worker = JobWorker(store: nodeB.jobs, handlers: [handler], configuration: configuration, doorbell: doorbell, logger: quietLogger)
            let notifications = nodeB.jobNotifications(ring: { doorbell.ring() }, logger: quietLogger)
            let listener = try #require(notifications)
            let group = Self.group([listener, worker])
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                try await listener.listening.wait()
                // Let the claim loop find the queue empty and park on the doorbell for its 20 s poll.
                #expect(await eventually { doorbell.waiting == 1 })

                func enqueueAndTime() async throws -> Duration? {
                    let job = Job.new(kind: handler.kind, projectID: "P", resourceID: "R-" + Identifiers.uuid(), now: Date())
                    let enqueued = ContinuousClock.now
                    try await storeA.enqueue(job)
                    guard await eventually(within: .seconds(5), { started.value[job.id] != nil }) else { return nil }
                    return started.value[job.id].map { $0 - enqueued }
                }
                let first = try #require(try await enqueueAndTime())
                #expect(first < .seconds(1), "started \(first) after the enqueue on the other node")

                // The listener's connection dies (PostgreSQL restarted, network cut): it reconnects and wakes B again.
                try await storeA.enqueue(Job.new(kind: "none", projectID: "P", resourceID: "x", now: Date()))
                _ = try await a.withDatabase { db in
                    try await db.raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()").all()
                }
                #expect(await eventually(within: .seconds(10)) { listener.connections == 2 })
                #expect(await eventually { doorbell.waiting == 1 })
                let second = try #require(try await enqueueAndTime())
                #expect(second < .seconds(1), "started \(second) after the reconnect")
                await group.triggerGracefulShutdown()
            }
        }
    }

    @Test("A worker whose clock runs 60 s ahead does not steal a live job on PostgreSQL", .enabled(if: TestDatabase.postgresURL != nil))
    func skewedWorkerDoesNotSteal() async throws {
        try await Self.withTwoNodes(.postgres) { a, b in
            let storeA = SQLJobStore(provider: a)
            let storeB = SQLJobStore(provider: b)
            let mayFinish = Gate()
            let handler = ScriptedHandler(isIdempotent: true) { _, _ in await mayFinish.wait() }
            var configuration = JobWorker.Configuration()
            configuration.leaseDuration = .seconds(2)
            let job = Job.new(kind: handler.kind, projectID: "P", resourceID: "R", maxAttempts: 3, now: Date())
            try await storeA.enqueue(job)
            let owner = JobWorker(store: storeA, handlers: [handler], configuration: configuration, logger: quietLogger)
            let skewed = JobWorker(
                store: storeB, handlers: [handler], configuration: configuration, logger: quietLogger, clock: { Date().addingTimeInterval(60) })
            async let outcome = owner.runOnce()
            #expect(await eventually { handler.runCount == 1 })
            // Over three lease lengths, the skewed node keeps looking for expired leases: it finds none.
            var stolen = 0
            let until = ContinuousClock.now.advanced(by: .seconds(6))
            while ContinuousClock.now < until {
                stolen += try await skewed.recoverExpiredJobs()
                #expect(try await skewed.runOnce() == nil)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(stolen == 0)
            mayFinish.open()
            #expect(try await outcome?.status == .succeeded)
            #expect(handler.runCount == 1)
        }
    }

    /// A periodic task gated by a leadership, as the schedulers are: counts its ticks.
    struct Ticker: Service {
        let leadership: Leadership
        let ticks: Shared<Int>

        func run() async throws {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if await Optional(self.leadership).allowsTick() { self.ticks.update { $0 += 1 } }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(50)) }
            }
        }
    }

    @Test("Elected work: of two nodes only one ticks; a holder that dies hands over after expiry, one that stops cleanly at once",
          arguments: TestDatabase.available)
    func election(database: TestDatabase) async throws {
        try await Self.withTwoNodes(database) { a, b in
            let lease = Duration.milliseconds(1500)
            let leadershipA = Leadership(name: "scheduler.test", owner: "node-a", store: SQLLeaseStore(provider: a), duration: lease, logger: quietLogger)
            let leadershipB = Leadership(name: "scheduler.test", owner: "node-b", store: SQLLeaseStore(provider: b), duration: lease, logger: quietLogger)
            let ticksA = Shared(0)
            let ticksB = Shared(0)
            let nodeA = Task { try await Elected(leadershipA, Ticker(leadership: leadershipA, ticks: ticksA)).run() }
            #expect(await eventually { ticksA.value > 0 })
            let groupB = Self.group([Elected(leadershipB, Ticker(leadership: leadershipB, ticks: ticksB))])
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await groupB.run() }
                // Both run for three lease lengths: A keeps the lease by renewing; B never ticks.
                try await Task.sleep(for: lease * 3)
                #expect(ticksB.value == 0)
                #expect(ticksA.value > 20)
                // A dies (stops renewing, releases nothing): B takes over once A's lease has expired.
                nodeA.cancel()
                _ = await nodeA.result
                let died = ContinuousClock.now
                let ticksAtDeath = ticksA.value
                #expect(await eventually { ticksB.value > 0 })
                let handover = ContinuousClock.now - died
                #expect(handover <= lease + .seconds(2), "B took over \(handover) after A died")
                #expect(ticksA.value == ticksAtDeath)
                // B stops cleanly and releases: a new A takes over at once, not after a lease length.
                await groupB.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let stopped = ContinuousClock.now
            let ticksAfter = Shared(0)
            let nodeA2 = Task { try await Elected(leadershipA, Ticker(leadership: leadershipA, ticks: ticksAfter)).run() }
            #expect(await eventually { ticksAfter.value > 0 })
            #expect(ContinuousClock.now - stopped < lease)
            nodeA2.cancel()
            _ = await nodeA2.result
        }
    }
}
