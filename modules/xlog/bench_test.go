package xlog_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/xlog"
	lua "github.com/yuin/gopher-lua"
)

var sinkBuf []byte

// BenchmarkExpand is the cost of expanding a compiled format into a
// reused buffer: what every call pays once the format is cached.
func BenchmarkExpand(b *testing.B) {
	m, _ := coretest.Msg(b, coretest.Register)
	p := &pv.PV{}
	for _, format := range []string{
		"REGISTER from $si:$sp",
		"$ci $hdr(Expires) $var(x) $pr",
		"REGISTER $fu to $ru",
	} {
		f, err := xlog.Compile(format, p.ParseName)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				sinkBuf = f.Expand(m, p, buf[:0])
			}
		})
	}
}

// BenchmarkCompile is what a format costs the first time (or every time
// beyond cache_size).
func BenchmarkCompile(b *testing.B) {
	p := &pv.PV{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xlog.Compile("REGISTER $fu from $si:$sp ($ua) expires $hdr(Expires)\n", p.ParseName); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLog is one xlog call from Go with the format cached: text
// handler writing to io.Discard, and with the level disabled.
func BenchmarkLog(b *testing.B) {
	m, _ := coretest.Msg(b, coretest.Register)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		level slog.Level
	}{{"written", slog.LevelInfo}, {"level off", slog.LevelWarn}} {
		x := xlog.NewWithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: tc.level})), nil)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if x.Log(ctx, m, xlog.LevelInfo, "REGISTER from $si:$sp call $ci\n") != 1 {
					b.Fatal("log failed")
				}
			}
		})
	}
}

// BenchmarkLua is KSR.xlog.xinfo called from a Lua loop.
func BenchmarkLua(b *testing.B) {
	m, _ := coretest.Msg(b, coretest.Register)
	x := xlog.NewWithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	env := &core.Env{Msg: m, Ctx: context.Background(), Log: slog.New(slog.DiscardHandler)}
	L := lua.NewState()
	defer L.Close()
	tbl := L.NewTable()
	for _, f := range x.LuaExports() {
		fn := f.Fn
		tbl.RawSetString(f.Name, L.NewFunction(func(L *lua.LState) int { return fn(env, L) }))
	}
	L.SetGlobal("xlog", tbl)
	if err := L.DoString(`function loop(n) for i = 1, n do xlog.xinfo("REGISTER from $si:$sp call $ci\n") end end`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := L.CallByParam(lua.P{Fn: L.GetGlobal("loop"), Protect: true}, lua.LNumber(b.N)); err != nil {
		b.Fatal(err)
	}
}
