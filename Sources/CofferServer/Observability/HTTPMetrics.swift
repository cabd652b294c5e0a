import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// Request counts and latencies per route, through swift-metrics into a Prometheus registry owned by
/// the application (no global bootstrap, so several servers can live in one test process).
package final class HTTPMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[String: Metrics.Timer]>([:])

    package init() {
        self.registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: self.registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    /// Records one request. Metric objects are created once per label set and reused.
    package func record(route: String, method: String, status: Int, duration: Duration) {
        let key = route + " " + method + " " + String(status)
        let counter = self.counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: "coffer_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                factory: self.factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timerKey = route + " " + method
        let timer = self.timers.withLock { timers in
            if let timer = timers[timerKey] { return timer }
            let timer = Metrics.Timer(
                label: "coffer_http_request_duration_seconds", dimensions: [("route", route), ("method", method)], factory: self.factory)
            timers[timerKey] = timer
            return timer
        }
        timer.record(duration: duration)
    }

    /// The Prometheus text exposition.
    package func render() -> [UInt8] { self.registry.emitToBuffer() }
}
