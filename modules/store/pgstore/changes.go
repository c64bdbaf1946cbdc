package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/locus-sip/locus/modules/usrloc"
)

const (
	// maxPayload keeps notifications under PostgreSQL's 8000-byte limit.
	maxPayload = 7900
	// maxPending bounds the changes waiting for a slow consumer; past it
	// they collapse into one "drop everything".
	maxPending = 4096
	// Reconnect backoff of the LISTEN connection.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// note is a change notification's payload: {"n": node, "t": table, "a": AoR}.
// An empty AoR means "drop every cached AoR".
type note struct {
	N string `json:"n"`
	T string `json:"t"`
	A string `json:"a"`
}

func encodePayload(node, table, aor string) string {
	b, _ := json.Marshal(note{N: node, T: table, A: aor})
	return string(b)
}

func decodePayload(p string) (note, bool) {
	var n note
	if err := json.Unmarshal([]byte(p), &n); err != nil || n.N == "" {
		return note{}, false
	}
	return n, true
}

// newNodeID names this store in its notifications, so it can skip its own.
func newNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// listenConn opens the dedicated LISTEN connection. TCP keepalives notice a
// silently lost server within about 25 s; a server that closes the
// connection is noticed at once.
func (s *Store) listenConn(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cfg = cfg.Copy()
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// listen receives notifications until ctx ends, reconnecting after the
// connection is lost. Notifications sent while it was disconnected are
// lost, so each reconnect queues a "drop everything" change.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	backoff := minBackoff
	for {
		if conn == nil {
			c, err := s.listenConn(ctx, cfg)
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			s.feed.push(usrloc.Change{})
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			closeConn(conn)
			conn = nil
			continue
		}
		p, ok := decodePayload(n.Payload)
		if !ok || p.N == s.node {
			continue
		}
		s.feed.push(usrloc.Change{Table: p.T, AOR: p.A})
	}
}

// feed passes changes from the listener to the consumer without ever
// blocking the listener: changes wait in a bounded, de-duplicated queue,
// and an overflow turns into one "drop everything".
type feed struct {
	out     chan usrloc.Change
	wake    chan struct{}
	mu      sync.Mutex
	pending []usrloc.Change
	set     map[usrloc.Change]struct{}
	all     bool // a "drop everything" is due; it covers anything pending
}

func newFeed() *feed {
	return &feed{
		out:  make(chan usrloc.Change, 256),
		wake: make(chan struct{}, 1),
		set:  map[usrloc.Change]struct{}{},
	}
}

func (f *feed) push(c usrloc.Change) {
	f.mu.Lock()
	_, dup := f.set[c]
	switch {
	case f.all || dup:
	case c.AOR == "" || len(f.pending) >= maxPending:
		f.all = true
		f.pending = nil
		clear(f.set)
	default:
		f.pending = append(f.pending, c)
		f.set[c] = struct{}{}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) next() (usrloc.Change, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all {
		f.all = false
		return usrloc.Change{}, true
	}
	if len(f.pending) == 0 {
		return usrloc.Change{}, false
	}
	c := f.pending[0]
	f.pending = f.pending[1:]
	if len(f.pending) == 0 {
		f.pending = nil
	}
	delete(f.set, c)
	return c, true
}

// forward delivers queued changes to out until ctx ends.
func (f *feed) forward(ctx context.Context) {
	for {
		c, ok := f.next()
		if !ok {
			select {
			case <-f.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case f.out <- c:
		case <-ctx.Done():
			return
		}
	}
}
