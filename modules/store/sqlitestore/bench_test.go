package sqlitestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

const benchAoRs = 100_000

// filled returns a store at a new path holding n AoRs of one binding each,
// written with one transaction (not through Update: it would take long).
func filled(b *testing.B, n int, dsnOpts string) (*Store, []usrloc.Binding) {
	return filledHooked(b, n, dsnOpts, hooks{})
}

// filledHooked is filled with hooks into the store.
func filledHooked(b *testing.B, n int, dsnOpts string, h hooks) (*Store, []usrloc.Binding) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "location.db")
	bs := bulkLoad(b, path, n)
	_, opts, err := ParseDSN("sqlite:" + path + dsnOpts)
	if err != nil {
		b.Fatal(err)
	}
	st, err := openHooked(context.Background(), path, opts, h)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, bs
}

// bulkLoad creates the database at path with n AoRs of one binding each.
func bulkLoad(tb testing.TB, path string, n int) []usrloc.Binding {
	tb.Helper()
	st := openTest(tb, path)
	defer st.Close()
	bs := make([]usrloc.Binding, n)
	tx, err := st.w.conn.BeginTx(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ins, err := tx.Prepare(sqlInsert)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range bs {
		bs[i] = binding(i)
		args, _ := insertArgs("location", bs[i].AOR, 0, &bs[i])
		if _, err := ins.Exec(args...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return bs
}

// BenchmarkUpdate is a re-REGISTER: replace an AoR's one binding, one
// caller at a time, so one transaction (and one fsync with FULL) each.
func BenchmarkUpdate(b *testing.B) {
	for _, mode := range []string{"full", "normal"} {
		b.Run(mode, func(b *testing.B) {
			st, bs := filled(b, benchAoRs, "?synchronous="+mode)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				x := &bs[i%benchAoRs]
				x.CSeq++
				x.Modified = time.Now()
				x.Expires = x.Modified.Add(time.Hour)
				if _, err := st.Update(ctx, "location", x.AOR, replace(*x)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/update")
		})
	}
}

// BenchmarkUpdateParallel is re-REGISTERs from 64 goroutines (as many
// concurrent REGISTER transactions): group commit shares transactions.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, mode := range []string{"full", "normal"} {
		b.Run(mode, func(b *testing.B) {
			st, bs := filled(b, benchAoRs, "?synchronous="+mode)
			ctx := context.Background()
			var next atomic.Int64
			batches0, reqs0 := st.batches.Load(), st.requests.Load()
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			var (
				mu  sync.Mutex
				lat []time.Duration
			)
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				var mine []time.Duration
				for pb.Next() {
					x := bs[i%benchAoRs]
					x.CSeq += uint32(i)
					x.Modified = time.Now()
					x.Expires = x.Modified.Add(time.Hour)
					if _, err := st.Update(ctx, "location", x.AOR, replace(x)); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(x.Modified))
					i++
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			if len(lat) > 0 {
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/update")
			if n := st.batches.Load() - batches0; n > 0 {
				b.ReportMetric(float64(st.requests.Load()-reqs0)/float64(n), "updates/commit")
			}
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkGet(b *testing.B) {
	st, bs := filled(b, benchAoRs, "")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		got, err := st.Get(ctx, "location", bs[i%benchAoRs].AOR)
		if err != nil || len(got) != 1 {
			b.Fatal(err, len(got))
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	st, bs := filled(b, benchAoRs, "")
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			got, err := st.Get(ctx, "location", bs[i%benchAoRs].AOR)
			if err != nil || len(got) != 1 {
				b.Error(err, len(got))
				return
			}
			i++
		}
	})
}

// BenchmarkExpireScan is one sweep of 100,000 AoRs with nothing due.
func BenchmarkExpireScan(b *testing.B) {
	st, _ := filled(b, benchAoRs, "")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if expired, err := st.Expire(context.Background(), now); err != nil || len(expired) != 0 {
			b.Fatal(err, len(expired))
		}
	}
}

// BenchmarkRestore1M opens a store of 1,000,000 AoRs (one binding each)
// and reports the time to open it, the first Gets after opening, and the
// time to List every AoR in pages of 1,000, as the admin API or a restore
// into a cache would. Run it with -benchtime=1x; the database is built once
// (in LOCUS_BENCH_DB if set, kept for later runs).
func BenchmarkRestore1M(b *testing.B) {
	const n = 1_000_000
	path := os.Getenv("LOCUS_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "location.db")
	}
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		bulkLoad(b, path, n)
		b.Logf("built %d bindings in %v", n, time.Since(start))
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		b.ReportMetric(float64(fi.Size())/n, "file-B/binding")
		start := time.Now()
		st, err := usrloc.Open(ctx, "sqlite:"+path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "open-ms")

		start = time.Now()
		got, err := st.Get(ctx, "location", aorOf(n/2))
		if err != nil || len(got) != 1 {
			b.Fatal(err, len(got))
		}
		b.ReportMetric(float64(time.Since(start).Microseconds()), "first-get-µs")
		start = time.Now()
		for i := range 1000 {
			if got, err := st.Get(ctx, "location", aorOf((i*7919)%n)); err != nil || len(got) != 1 {
				b.Fatal(err, len(got))
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "cold-get-µs")

		start = time.Now()
		total, pages, after := 0, 0, ""
		for {
			count := 0
			err := st.List(ctx, "location", "", after, func(aor string, bs []usrloc.Binding) bool {
				count++
				total += len(bs)
				after = aor
				return count < 1000
			})
			if err != nil {
				b.Fatal(err)
			}
			if count == 0 {
				break
			}
			pages++
		}
		if total != n || pages != n/1000 {
			b.Fatalf("listed %d bindings in %d pages, want %d in %d", total, pages, n, n/1000)
		}
		b.ReportMetric(time.Since(start).Seconds(), "list-pages-s")

		start = time.Now()
		total = 0
		if err := st.List(ctx, "location", "", "", func(aor string, bs []usrloc.Binding) bool {
			total += len(bs)
			return true
		}); err != nil || total != n {
			b.Fatal(err, total)
		}
		b.ReportMetric(time.Since(start).Seconds(), "list-all-s")
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateRate offers Updates at a fixed rate, 2,000/s with Poisson
// arrivals, each from its own goroutine (as sipgo runs handlers), for 5 s,
// and reports the latency distribution of Update and where it goes: the
// wait until fn runs (queue: the batches before it), each commit's
// statements (exec, from the wait for the gate on) and COMMIT (with
// synchronous=full, its fsync of the WAL). "refresh" re-REGISTERs random
// AoRs of 100,000; "new" registers new AoRs, in sequence, as bench/run.sh's
// noauth scenario does. "checkpointer" is the store as it is; "writer"
// leaves the checkpoints to the writer, inside its commits, every 1,000
// pages (SQLite's default), for comparison. One iteration is the whole
// run: -benchtime=1x.
func BenchmarkUpdateRate(b *testing.B) {
	const (
		rate = 2000
		dur  = 5 * time.Second
	)
	for _, mode := range []string{"full", "normal"} {
		for _, load := range []string{"refresh", "new"} {
			for _, ckpt := range []string{"checkpointer", "writer"} {
				b.Run(mode+"/"+load+"/"+ckpt, func(b *testing.B) {
					var (
						mu           sync.Mutex
						exec, commit []time.Duration
					)
					h := hooks{
						batch: func(n int, begin, applied, committed time.Time) {
							mu.Lock()
							exec = append(exec, applied.Sub(begin))
							commit = append(commit, committed.Sub(applied))
							mu.Unlock()
						},
					}
					if ckpt == "writer" {
						// The checkpointer runs one round, at the first commit.
						h.checkpointEvery, h.backstopFrames = time.Hour, 1000
					}
					st, bs := filledHooked(b, benchAoRs, "?synchronous="+mode, h)
					for b.Loop() {
						mu.Lock()
						exec, commit = exec[:0], commit[:0]
						mu.Unlock()
						lat, queue := offerUpdates(b, st, bs, load, rate, dur)
						mu.Lock()
						reportDurations(b, "update", lat)
						reportDurations(b, "queue", queue)
						reportDurations(b, "exec", exec)
						reportDurations(b, "commit", commit)
						mu.Unlock()
					}
				})
			}
		}
	}
}

// offerUpdates runs Updates at rate for dur and returns their latencies
// and how long each waited until its fn ran. It reports the throughput, CPU
// per update, updates per commit, the checkpointer's checkpoints (and the
// gated ones) and the most frames the WAL held.
func offerUpdates(b *testing.B, st *Store, bs []usrloc.Binding, load string, rate float64, dur time.Duration) (lat, queue []time.Duration) {
	r := rand.New(rand.NewPCG(1, 2))
	n := int(rate * dur.Seconds())
	lat, queue = make([]time.Duration, n), make([]time.Duration, n)
	batches0, reqs0 := st.batches.Load(), st.requests.Load()
	runs0, gated0 := st.ckpt.runs.Load(), st.ckpt.gated.Load()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	start := time.Now()
	at := time.Duration(0)
	for i := range n {
		at += time.Duration(r.ExpFloat64() / rate * float64(time.Second))
		if d := time.Until(start.Add(at)); d > 0 {
			time.Sleep(d)
		}
		x := bs[r.IntN(len(bs))]
		if load == "new" {
			x.AOR = fmt.Sprintf("sip:new%09d-%d@example.com", i, b.N)
		}
		wg.Go(func() {
			t0 := time.Now()
			x.CSeq++
			x.Modified = t0
			x.Expires = t0.Add(time.Hour)
			var ran time.Time
			_, err := st.Update(context.Background(), "location", x.AOR, func([]usrloc.Binding) ([]usrloc.Binding, error) {
				ran = time.Now()
				return []usrloc.Binding{x}, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
			lat[i], queue[i] = time.Since(t0), ran.Sub(t0)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "updates/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/update")
	if k := st.batches.Load() - batches0; k > 0 {
		b.ReportMetric(float64(st.requests.Load()-reqs0)/float64(k), "updates/commit")
	}
	b.ReportMetric(float64(st.ckpt.runs.Load()-runs0), "checkpoints")
	b.ReportMetric(float64(st.ckpt.gated.Load()-gated0), "gated-checkpoints")
	b.ReportMetric(float64(walFileFrames(b, st.path)), "max-wal-frames")
	return lat, queue
}

// reportDurations reports the median, the 99th and 99.9th percentiles and
// the maximum of d (sorting it).
func reportDurations(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), name+"-p50-µs")
	b.ReportMetric(at(0.99), name+"-p99-µs")
	b.ReportMetric(at(0.999), name+"-p99.9-µs")
	b.ReportMetric(at(1), name+"-max-µs")
}
