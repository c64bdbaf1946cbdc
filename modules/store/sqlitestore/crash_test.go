package sqlitestore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

// crashEnv names the database a child process of TestKillAcknowledged
// writes to; the test binary re-executed with it set runs crashChild.
const crashEnv = "LOCUS_SQLITESTORE_CRASH_DB"

// TestKillAcknowledged is write-through under SIGKILL: a child process
// updates AoRs from many goroutines (so commits are shared) and prints each
// acknowledged one; it is killed mid-stream; every acknowledged binding must
// be in the database when it is opened again.
func TestKillAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by PID; a no-op once it is dead

	type ack struct{ aor, contact string }
	var acks []ack
	killed := false
	timeout := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timeout.Stop()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ACK" || f[3] != "." {
			continue // not an ack line (test output), or cut short
		}
		acks = append(acks, ack{f[1], f[2]})
		if len(acks) == 2000 && !killed {
			// Kill mid-stream: requests are in flight and being committed.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d acknowledgements before it was killed: %v", len(acks), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}

	st := openTest(t, path)
	defer st.Close()
	ctx := context.Background()
	missing := 0
	for _, a := range acks {
		bs, err := st.Get(ctx, "location", a.aor)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(contacts(bs), a.contact) {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged %s of %s is missing after the kill", a.contact, a.aor)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged bindings lost", missing, len(acks))
	}
	t.Logf("%d acknowledged bindings, all present after SIGKILL", len(acks))
}

// TestCrashChild is the child of TestKillAcknowledged; without crashEnv it
// does nothing.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	st, err := usrloc.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stop := time.Now().Add(30 * time.Second) // if the parent is gone
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			var mine []string
			for i := 0; time.Now().Before(stop); i++ {
				aor := fmt.Sprintf("sip:g%02d-%06d@crash.example", g, i)
				if i%3 == 2 { // append to one of its own AoRs
					aor = mine[i%len(mine)]
				} else {
					mine = append(mine, aor)
				}
				b := binding(i)
				b.AOR, b.Contact = aor, fmt.Sprintf("sip:c%d-%d@198.51.100.7", g, i)
				if _, err := st.Update(context.Background(), "location", aor, appendOne(b)); err != nil {
					fmt.Fprintln(os.Stderr, "crash child:", err)
					os.Exit(3)
				}
				line := "ACK " + aor + " " + b.Contact + " .\n"
				mu.Lock()
				os.Stdout.WriteString(line) // one write, under PIPE_BUF: atomic
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(4) // never reached when the parent kills it in time
}
