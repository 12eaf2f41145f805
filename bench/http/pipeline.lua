-- wrk script of the HTTP plaintext benchmark (bench/run_http.py):
--   PIPELINE_CONNECTIONS=C wrk -t1 -cC -dDs --latency -s pipeline.lua http://127.0.0.1:PORT/ -- DEPTH
-- Each write carries DEPTH pipelined "GET /plaintext HTTP/1.1" requests (default 1); wrk waits
-- for all DEPTH responses before it writes the connection's next batch, and records one latency
-- per batch: from its write to its last response.
--
-- At the end, one line on stdout, "wrk-json {...}", gives the runner exact figures: requests
-- completed, the run's duration, bytes, every error count (connect/read/write/timeout, and
-- "status": responses with a status above 399), and latency percentiles in microseconds.
--
-- Latency. Before it reports, wrk 4.1 "corrects" its histogram for coordinated omission: for
-- every sample n >= 2e it adds copies at n - e, n - 2e, ... (down to e), where
-- e = duration / (requests / connections). With pipelining, requests counts responses, so e is
-- DEPTH times too small and the copies swamp the real samples; some also land below the
-- histogram's minimum, where wrk's percentile search never looks, so its p99 can read 0. Its own
-- figures are kept as wrk_p50_us / wrk_p99_us. p50_us / p99_us / mean_us are of the samples
-- wrk really recorded: the correction is undone (each bucket n > e received exactly the final
-- count of bucket n + e, so original[n] = final[n] - final[n + e]). That needs the raw
-- histogram: through LuaJIT's FFI, the stats struct of wrk 4.1 (count, limit, min, max, then a
-- counter per microsecond), used only if its fields agree with what wrk's API says (min, max,
-- the count equal to the sum of the counters) and the undone counts are consistent (none
-- negative, their sum the number of batches); otherwise they are null and only wrk's are given.
-- PIPELINE_CONNECTIONS (the -c value) is needed to compute e: done() runs in wrk's main Lua
-- state, which never sees the script arguments.
local depth = 1

function init(args)
    depth = tonumber(args[1]) or 1
    local batch = {}
    for i = 1, depth do
        batch[i] = wrk.format("GET", "/plaintext")
    end
    request_batch = table.concat(batch)
end

function request()
    return request_batch
end

-- The recorded per-batch latencies as {p50, p99, mean}, or nil when the raw histogram cannot be
-- read safely (see above).
local function recorded_latency(summary, latency)
    local connections = tonumber(os.getenv("PIPELINE_CONNECTIONS") or "")
    local batch_depth = tonumber(os.getenv("PIPELINE_DEPTH") or "")
    local ok, ffi = pcall(require, "ffi")
    if not ok or not connections or not batch_depth or summary.requests < connections then
        return nil
    end
    local fields = ffi.cast("uint64_t**", latency)[0]
    local count, min, max = tonumber(fields[0]), tonumber(fields[2]), tonumber(fields[3])
    if min ~= latency.min or max ~= latency.max or min > max or max > tonumber(fields[1]) then
        return nil
    end
    local data = fields + 4
    local sum = 0
    for n = 0, max do
        sum = sum + tonumber(data[n])
    end
    if sum ~= count then
        return nil
    end
    local e = math.floor(summary.duration / math.floor(summary.requests / connections))
    local original = {}
    local total, weighted = 0, 0
    for n = min, max do
        local o = tonumber(data[n])
        if n > e and n + e <= max then
            o = o - tonumber(data[n + e])
        end
        if o < 0 then
            return nil
        end
        original[n] = o
        total = total + o
        weighted = weighted + o * n
    end
    local batches = summary.requests / batch_depth
    if total == 0 or total > batches or total < batches - connections then
        return nil
    end
    local function percentile(p)
        local rank, seen = math.ceil(p / 100 * total), 0
        for n = min, max do
            seen = seen + original[n]
            if seen >= rank then
                return n
            end
        end
        return max
    end
    return {percentile(50), percentile(99), weighted / total}
end

function done(summary, latency, requests)
    local e = summary.errors
    local recorded = recorded_latency(summary, latency)
    local function field(index)
        return recorded and string.format("%.1f", recorded[index]) or "null"
    end
    io.write(string.format(
        'wrk-json {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, ' ..
        '"write_errors": %d, "timeouts": %d, "status_errors": %d, "p50_us": %s, "p99_us": %s, "mean_us": %s, ' ..
        '"wrk_p50_us": %d, "wrk_p99_us": %d, "max_us": %d}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout, e.status,
        field(1), field(2), field(3), latency:percentile(50), latency:percentile(99), latency.max))
end
