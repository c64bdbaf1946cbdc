package xlog_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// entry is one logged line: level, message and attributes as text.
type entry struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// capture is a slog.Handler that keeps what is logged at or above min.
type capture struct {
	min   slog.Level
	mu    *sync.Mutex
	out   *[]entry
	attrs []slog.Attr
}

func newCapture(min slog.Level) *capture {
	return &capture{min: min, mu: &sync.Mutex{}, out: &[]entry{}}
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	e := entry{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range c.attrs {
		e.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.out = append(*c.out, e)
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &n
}

func (c *capture) WithGroup(string) slog.Handler { return c }

// entries returns what was logged so far.
func (c *capture) entries() []entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]entry(nil), *c.out...)
}

// messages returns "LEVEL message" for each line.
func (c *capture) messages() []string {
	var out []string
	for _, e := range c.entries() {
		out = append(out, fmt.Sprintf("%s %s", e.level, e.msg))
	}
	return out
}

// has reports whether some line is exactly "LEVEL message".
func (c *capture) has(line string) bool {
	for _, m := range c.messages() {
		if m == line {
			return true
		}
	}
	return false
}

func (c *capture) String() string { return strings.Join(c.messages(), "\n") }

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
