package xlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/pv"
)

// Level is a Kamailio log level, as xlog's level names give it.
type Level uint8

// The Kamailio levels, most severe first.
const (
	LevelAlert  Level = iota // L_ALERT
	LevelBug                 // L_BUG
	LevelCrit2               // L_CRIT2
	LevelCrit                // L_CRIT
	LevelErr                 // L_ERR
	LevelWarn                // L_WARN
	LevelNotice              // L_NOTICE
	LevelInfo                // L_INFO
	LevelDbg                 // L_DBG
)

var levelNames = map[string]Level{
	"alert": LevelAlert, "bug": LevelBug, "crit2": LevelCrit2, "crit": LevelCrit,
	"err": LevelErr, "warn": LevelWarn, "notice": LevelNotice, "info": LevelInfo, "dbg": LevelDbg,
}

// ParseLevel reads a level name as Kamailio's xlog(level, fmt) does:
// "L_ALERT", "L_BUG", "L_CRIT2", "L_CRIT", "L_ERR", "L_WARN", "L_NOTICE",
// "L_INFO", "L_DBG", in any case; locus also takes them without "L_".
// Anything else is L_ERR, as in Kamailio.
func ParseLevel(name string) Level {
	if len(name) > 2 && (name[0] == 'l' || name[0] == 'L') && name[1] == '_' {
		name = name[2:]
	}
	if len(name) > 6 {
		return LevelErr
	}
	var b [6]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if l, ok := levelNames[string(b[:len(name)])]; ok {
		return l
	}
	return LevelErr
}

// Slog is the log/slog level a Kamailio level is written at: the ones
// above L_ERR are errors, L_NOTICE is info, as the core's KSR.notice and
// KSR.crit have it.
func (l Level) Slog() slog.Level {
	switch {
	case l <= LevelErr:
		return slog.LevelError
	case l == LevelWarn:
		return slog.LevelWarn
	case l == LevelDbg:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// null is how a pseudo-variable without a value prints, as in Kamailio.
const null = "<null>"

// Format is a compiled xlog format: literal text and pseudo-variables,
// resolved once so that expanding it does no parsing.
type Format struct {
	segs []segment
	tail string
	// Unknown lists the pseudo-variables that are well formed but that
	// locus does not know (or transformations, $(ru{uri.user})): they
	// print <null>.
	Unknown []string
}

// segment is literal text followed by one pseudo-variable.
type segment struct {
	text string
	spec pv.Spec
	null bool
}

// Errors of Compile.
var (
	ErrDangling     = errors.New("'$' without a name")
	ErrUnterminated = errors.New("unterminated pseudo-variable")
	ErrEmpty        = errors.New("empty name or index in pseudo-variable")
)

// Compile parses an xlog format with Kamailio's syntax: "$$" is a "$";
// "$name", "$name(inner)", "$(name)", "$(name(inner))" and
// "$(name(inner)[index])" are pseudo-variables, resolved by resolve (the
// pv module's ParseName). A malformed pseudo-variable ("$" alone, an
// unclosed parenthesis) is an error, as it is for Kamailio; a well-formed
// one that resolve does not know prints <null> and is listed in Unknown.
func Compile(s string, resolve func(string) (pv.Spec, error)) (*Format, error) {
	f := &Format{}
	var text []byte
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			text = append(text, s[i:]...)
			break
		}
		text = append(text, s[i:i+j]...)
		i += j
		if i+1 < len(s) && s[i+1] == '$' {
			text = append(text, '$')
			i += 2
			continue
		}
		tok, key, err := scan(s[i:])
		if err != nil {
			return nil, fmt.Errorf("xlog: %w at byte %d", err, i)
		}
		seg := segment{text: string(text)}
		text = text[:0]
		if key == "" {
			seg.null = true
		} else if seg.spec, err = resolve(key); err != nil {
			seg.null = true
		}
		if seg.null {
			f.Unknown = append(f.Unknown, tok)
		}
		f.segs = append(f.segs, seg)
		i += len(tok)
	}
	f.tail = string(text)
	return f, nil
}

// scan reads the pseudo-variable at the start of s (s[0] is '$', s[1] is
// not). tok is its text; key is the name to resolve, "" for a form locus
// does not resolve (a transformation).
func scan(s string) (tok, key string, err error) {
	if len(s) < 2 {
		return "", "", ErrDangling
	}
	if s[1] == '(' {
		return scanBracketed(s)
	}
	end := 1 + nameLen(s[1:])
	if end == 1 {
		return "", "", ErrDangling
	}
	if end < len(s) && s[end] == '(' {
		c, err := closing(s, end, '(', ')')
		if err != nil {
			return "", "", err
		}
		end = c + 1
	}
	return s[:end], s[:end], nil
}

// scanBracketed reads "$(name(inner)[index]{transformation})".
func scanBracketed(s string) (tok, key string, err error) {
	i := 2
	n := nameLen(s[i:])
	if n == 0 {
		return "", "", ErrDangling
	}
	name := s[i : i+n]
	i += n
	inner, index, transformed := "", "", false
	if i < len(s) && s[i] == '(' {
		c, err := closing(s, i, '(', ')')
		if err != nil {
			return "", "", err
		}
		inner, i = s[i:c+1], c+1
	}
	if i < len(s) && s[i] == '[' {
		c, err := closing(s, i, '[', ']')
		if err != nil {
			return "", "", err
		}
		index, i = s[i:c+1], c+1
	}
	for i < len(s) && s[i] == '{' {
		c, err := closing(s, i, '{', '}')
		if err != nil {
			return "", "", err
		}
		transformed, i = true, c+1
	}
	if i >= len(s) || s[i] != ')' {
		return "", "", ErrUnterminated
	}
	tok = s[:i+1]
	switch {
	case transformed:
		return tok, "", nil
	case index != "":
		// The pv module reads $(name(inner)[i]) itself.
		return tok, tok, nil
	}
	return tok, "$" + name + inner, nil
}

// nameLen is the length of the pseudo-variable name at the start of s:
// letters, digits, '_' and '.', as Kamailio has them.
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return i
		}
	}
	return len(s)
}

// closing returns the index of the bracket that closes s[open], counting
// nested pairs; an empty pair is an error, as in Kamailio.
func closing(s string, open int, o, c byte) (int, error) {
	depth := 0
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			if depth > 0 {
				depth--
				continue
			}
			if i == open+1 {
				return 0, ErrEmpty
			}
			return i, nil
		}
	}
	return 0, ErrUnterminated
}

// Expand appends the format's text for the request m to buf, reading
// pseudo-variables through p. Without a request (m nil, at script load)
// every pseudo-variable prints <null>.
func (f *Format) Expand(m *core.Msg, p *pv.PV, buf []byte) []byte {
	for i := range f.segs {
		sg := &f.segs[i]
		buf = append(buf, sg.text...)
		if sg.null || m == nil {
			buf = append(buf, null...)
			continue
		}
		switch v := p.Get(m, sg.spec); v.Type {
		case pv.Str:
			buf = append(buf, v.S...)
		case pv.Int:
			buf = strconv.AppendInt(buf, int64(v.N), 10)
		default:
			buf = append(buf, null...)
		}
	}
	return append(buf, f.tail...)
}

// compiled is a cache entry: a format or the error compiling it.
type compiled struct {
	f   *Format
	err error
}

// format returns the compiled format of s from the cache, compiling and
// caching it the first time while the cache has room.
func (x *XLog) format(s string) (*Format, error) {
	if c, ok := x.cache.Load(s); ok {
		e := c.(*compiled)
		return e.f, e.err
	}
	f, err := Compile(s, x.resolve)
	if x.cached.Load() < int64(x.CacheSize) {
		if _, loaded := x.cache.LoadOrStore(s, &compiled{f, err}); !loaded {
			x.cached.Add(1)
			if err == nil && len(f.Unknown) > 0 {
				x.log.Warn("xlog: pseudo-variables locus does not know print <null>", "names", f.Unknown)
			}
		}
	}
	return f, err
}

// resolve parses a pseudo-variable name through the pv module.
func (x *XLog) resolve(name string) (pv.Spec, error) { return x.pv.ParseName(name) }

// bufs are reused message buffers.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooled bounds the buffers kept for reuse.
const maxPooled = 16 << 10

// Log writes the format s, expanded for the request m, at level l. It
// returns Kamailio's result: 1, or -1 when s is malformed (the error is
// logged). Nothing is formatted when the level is not logged.
func (x *XLog) Log(ctx context.Context, m *core.Msg, l Level, s string) int {
	lvl := l.Slog()
	if !x.log.Enabled(ctx, lvl) {
		return 1
	}
	var msg string
	if strings.IndexByte(s, '$') < 0 {
		msg = x.Prefix + s
	} else {
		f, err := x.format(s)
		if err != nil {
			x.log.Error("xlog: bad format", "error", err, "format", clip(s))
			return -1
		}
		bp := bufs.Get().(*[]byte)
		b := append((*bp)[:0], x.Prefix...)
		b = f.Expand(m, x.pv, b)
		msg = string(b)
		if cap(b) <= maxPooled {
			*bp = b
			bufs.Put(bp)
		}
	}
	// Kamailio's formats end in "\n"; slog ends the line itself.
	x.log.Log(ctx, lvl, strings.TrimRight(msg, "\r\n"))
	return 1
}

// clip shortens a script-supplied format for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
