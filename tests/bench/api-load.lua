-- wrk script of tests/bench/run's BENCH_API_LOAD: each connection waits
-- API_DELAY_MS milliseconds after an answer before its next request, so
-- that 20 connections ask about 20000 / (API_DELAY_MS + 1) times a second
-- (wrk itself asks as fast as answers come).
local delay_ms = tonumber(os.getenv("API_DELAY_MS") or "20")

function delay()
    return delay_ms
end

function done(summary, latency, requests)
    io.write(string.format("RESULT {\"requests\":%d,\"seconds\":%.2f,\"per_s\":%.0f,"
        .. "\"errors\":%d,\"non_2xx\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
