package script

import "github.com/yuin/gopher-lua/ast"

// KSR.x.exit() stops a route by raising an error that Call recognises:
// a Go panic that unwinds the VM and its Go frames. Live, that unwinding
// costs about as much as the rest of the Lua runtime's work for a
// request. exitReturns compiles the common exits into returns, when the
// script gives no way to tell the difference:
//
//   - ksr_request_route is defined once, by a function statement, and
//     named nowhere else (no Lua code calls it, so returning from it ends
//     the route: Call discards what a route returns);
//   - the script never binds KSR (no local, parameter or loop variable of
//     that name, no assignment to KSR or to anything under it, no function
//     defined into it), and uses KSR and KSR.x only to index them further
//     (so no alias can replace KSR.x.exit), nor the strings "KSR" or
//     "ksr_request_route";
//   - the script never names _G, getfenv or setfenv, through which a
//     function could be found, called or replaced by a computed name.
//
// Then each KSR.x.exit() statement in the route's body becomes a return.
// Kamailio-style scripts exit from sub-routes too: global functions the
// route calls. Such a sub-route qualifies when it is defined once, at the
// top level, and named only in call statements in the body of the route
// or of another qualifying sub-route (never as a value, an expression, in
// a function defined inside another, at the top level or in a string).
// Its exits become "return exitSentinel", a table no other code can
// reach, and each call statement of it becomes "if f() == exitSentinel
// then return end" in the route ("return exitSentinel" in a sub-route),
// which does what the call did unless the sentinel comes back. A
// sub-route the engine calls itself (a failure route) returns the
// sentinel to Call, which discards it: the route ends, as with exit.
//
// Everything else keeps raising: an exit in a function defined inside a
// route, in a function used as a value (passed to pcall), or in a script
// that breaks a condition. It returns the chunk to compile and how many
// exits it rewrote.
func exitReturns(chunk []ast.Stmt) ([]ast.Stmt, int) {
	var route *ast.FuncDefStmt
	safe := true
	defs := globalFunctions(chunk)
	names := map[string]int{} // identifiers and strings, by name
	sentinelTaken := false
	var v walker
	v.stmt = func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.FuncDefStmt:
			if rootedAtKSR(s.Name.Func) || rootedAtKSR(s.Name.Receiver) {
				safe = false
			}
		case *ast.LocalAssignStmt:
			safe = safe && !hasName(s.Names, "KSR")
			sentinelTaken = sentinelTaken || hasName(s.Names, exitSentinel)
		case *ast.NumberForStmt:
			safe = safe && s.Name != "KSR"
			sentinelTaken = sentinelTaken || s.Name == exitSentinel
		case *ast.GenericForStmt:
			safe = safe && !hasName(s.Names, "KSR")
			sentinelTaken = sentinelTaken || hasName(s.Names, exitSentinel)
		case *ast.AssignStmt:
			for _, e := range s.Lhs {
				safe = safe && !rootedAtKSR(e)
			}
		}
	}
	v.expr = func(e ast.Expr, indexed bool) {
		switch e := e.(type) {
		case *ast.IdentExpr:
			names[e.Value]++
			switch e.Value {
			case "KSR":
				safe = safe && indexed
			case "_G", "getfenv", "setfenv":
				safe = false
			}
		case *ast.StringExpr:
			names[e.Value]++
			safe = safe && e.Value != "KSR"
		case *ast.AttrGetExpr:
			if isKSRx(e) {
				safe = safe && indexed
			}
		case *ast.FunctionExpr:
			if e.ParList != nil {
				safe = safe && !hasName(e.ParList.Names, "KSR")
				sentinelTaken = sentinelTaken || hasName(e.ParList.Names, exitSentinel)
			}
		}
	}
	v.stmts(chunk)
	if ds := defs[RequestRoute]; len(ds) == 1 {
		route = ds[0]
	}
	if route == nil || !safe || names[RequestRoute] != 1 {
		return chunk, 0
	}

	// The sub-routes: every mention of one must be a call statement in a
	// qualifying body, so drop those named anywhere else until none is.
	subs := map[string]*ast.FuncDefStmt{}
	if !sentinelTaken && names[exitSentinel] == 0 {
		for name, ds := range defs {
			if name != RequestRoute && len(ds) == 1 {
				subs[name] = ds[0]
			}
		}
	}
	for changed := true; changed; {
		changed = false
		calls := map[string]int{}
		countCalls(route.Func.Stmts, subs, calls)
		for _, d := range subs {
			countCalls(d.Func.Stmts, subs, calls)
		}
		for name := range subs {
			if names[name] != 1+calls[name] { // its definition, and calls
				delete(subs, name)
				changed = true
			}
		}
	}
	n := rewriteExits(route.Func.Stmts, subs, false)
	for _, d := range subs {
		n += rewriteExits(d.Func.Stmts, subs, true)
	}
	if len(subs) == 0 {
		return chunk, n
	}
	decl := &ast.LocalAssignStmt{Names: []string{exitSentinel}, Exprs: []ast.Expr{&ast.TableExpr{}}}
	return append([]ast.Stmt{decl}, chunk...), n
}

// globalFunctions returns the global functions a chunk defines at its top
// level ("function name() … end"), by name: the functions the engine may
// call, and the candidate sub-routes.
func globalFunctions(chunk []ast.Stmt) map[string][]*ast.FuncDefStmt {
	defs := map[string][]*ast.FuncDefStmt{}
	for _, s := range chunk {
		if d, ok := s.(*ast.FuncDefStmt); ok && d.Name.Receiver == nil {
			if id, ok := d.Name.Func.(*ast.IdentExpr); ok {
				defs[id.Value] = append(defs[id.Value], d)
			}
		}
	}
	return defs
}

// exitSentinel names the local that qualifying sub-routes return for an
// exit (see exitReturns). Scripts that use the name are left alone.
const exitSentinel = "__locus_exit"

// countCalls counts the call statements of the sub-routes in a block and
// the blocks nested in it, but not in functions defined in it.
func countCalls(stmts []ast.Stmt, subs map[string]*ast.FuncDefStmt, calls map[string]int) {
	eachStmt(stmts, func(block []ast.Stmt, i int) {
		if c, ok := block[i].(*ast.FuncCallStmt); ok {
			if name, ok := subCall(c, subs); ok {
				calls[name]++
			}
		}
	})
}

// subCall returns the sub-route a call statement calls, if it calls one
// by its name.
func subCall(c *ast.FuncCallStmt, subs map[string]*ast.FuncDefStmt) (string, bool) {
	call, ok := c.Expr.(*ast.FuncCallExpr)
	if !ok || call.Receiver != nil {
		return "", false
	}
	id, ok := call.Func.(*ast.IdentExpr)
	if !ok || subs[id.Value] == nil {
		return "", false
	}
	return id.Value, true
}

// eachStmt calls f for every statement of a block and of the blocks
// nested in it, but not of functions defined in it, with the block and
// the statement's index, so that f may replace it.
func eachStmt(stmts []ast.Stmt, f func(block []ast.Stmt, i int)) {
	for i, s := range stmts {
		f(stmts, i)
		switch s := s.(type) {
		case *ast.DoBlockStmt:
			eachStmt(s.Stmts, f)
		case *ast.WhileStmt:
			eachStmt(s.Stmts, f)
		case *ast.RepeatStmt:
			eachStmt(s.Stmts, f)
		case *ast.IfStmt:
			eachStmt(s.Then, f)
			eachStmt(s.Else, f)
		case *ast.NumberForStmt:
			eachStmt(s.Stmts, f)
		case *ast.GenericForStmt:
			eachStmt(s.Stmts, f)
		}
	}
}

// rewriteExits rewrites a body's exits and its calls of sub-routes, in
// every block of it but not in functions defined in it; sub says whether
// the body is a sub-route's. It returns how many exits it rewrote.
func rewriteExits(stmts []ast.Stmt, subs map[string]*ast.FuncDefStmt, sub bool) int {
	ret := func(at ast.Stmt) ast.Stmt {
		r := &ast.ReturnStmt{}
		if sub {
			r.Exprs = []ast.Expr{sentinel(at.Line())}
		}
		r.SetLine(at.Line())
		r.SetLastLine(at.LastLine())
		return r
	}
	n := 0
	eachStmt(stmts, func(block []ast.Stmt, i int) {
		c, ok := block[i].(*ast.FuncCallStmt)
		if !ok {
			return
		}
		if isExitCall(c.Expr) {
			block[i] = ret(c)
			n++
			return
		}
		if _, ok := subCall(c, subs); ok {
			cond := &ast.RelationalOpExpr{Operator: "==", Lhs: c.Expr, Rhs: sentinel(c.Line())}
			cond.SetLine(c.Line())
			cond.SetLastLine(c.LastLine())
			st := &ast.IfStmt{Condition: cond, Then: []ast.Stmt{ret(c)}}
			st.SetLine(c.Line())
			st.SetLastLine(c.LastLine())
			block[i] = st
		}
	})
	return n
}

func sentinel(line int) ast.Expr {
	id := &ast.IdentExpr{Value: exitSentinel}
	id.SetLine(line)
	id.SetLastLine(line)
	return id
}

// isExitCall reports whether e is KSR.x.exit() without arguments.
func isExitCall(e ast.Expr) bool {
	c, ok := e.(*ast.FuncCallExpr)
	if !ok || c.Receiver != nil || len(c.Args) != 0 {
		return false
	}
	g, ok := c.Func.(*ast.AttrGetExpr)
	return ok && isString(g.Key, "exit") && isKSRx(g.Object)
}

// isKSRx reports whether e is KSR.x.
func isKSRx(e ast.Expr) bool {
	g, ok := e.(*ast.AttrGetExpr)
	if !ok || !isString(g.Key, "x") {
		return false
	}
	id, ok := g.Object.(*ast.IdentExpr)
	return ok && id.Value == "KSR"
}

func isString(e ast.Expr, s string) bool {
	k, ok := e.(*ast.StringExpr)
	return ok && k.Value == s
}

// rootedAtKSR reports whether e is KSR or an index into it, at any depth.
func rootedAtKSR(e ast.Expr) bool {
	for {
		switch x := e.(type) {
		case *ast.IdentExpr:
			return x.Value == "KSR"
		case *ast.AttrGetExpr:
			e = x.Object
		default:
			return false
		}
	}
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// walker visits every statement and expression of a chunk, functions
// included. expr learns whether the expression is indexed: the object of
// an AttrGetExpr.
type walker struct {
	stmt func(ast.Stmt)
	expr func(e ast.Expr, indexed bool)
}

func (v *walker) stmts(ss []ast.Stmt) {
	for _, s := range ss {
		v.stmt(s)
		switch s := s.(type) {
		case *ast.AssignStmt:
			v.exprs(s.Lhs)
			v.exprs(s.Rhs)
		case *ast.LocalAssignStmt:
			v.exprs(s.Exprs)
		case *ast.FuncCallStmt:
			v.walk(s.Expr, false)
		case *ast.DoBlockStmt:
			v.stmts(s.Stmts)
		case *ast.WhileStmt:
			v.walk(s.Condition, false)
			v.stmts(s.Stmts)
		case *ast.RepeatStmt:
			v.stmts(s.Stmts)
			v.walk(s.Condition, false)
		case *ast.IfStmt:
			v.walk(s.Condition, false)
			v.stmts(s.Then)
			v.stmts(s.Else)
		case *ast.NumberForStmt:
			v.walk(s.Init, false)
			v.walk(s.Limit, false)
			v.walk(s.Step, false)
			v.stmts(s.Stmts)
		case *ast.GenericForStmt:
			v.exprs(s.Exprs)
			v.stmts(s.Stmts)
		case *ast.FuncDefStmt:
			v.walk(s.Name.Func, false)
			v.walk(s.Name.Receiver, false)
			v.walk(s.Func, false)
		case *ast.ReturnStmt:
			v.exprs(s.Exprs)
		}
	}
}

func (v *walker) exprs(es []ast.Expr) {
	for _, e := range es {
		v.walk(e, false)
	}
}

func (v *walker) walk(e ast.Expr, indexed bool) {
	if e == nil {
		return
	}
	v.expr(e, indexed)
	switch e := e.(type) {
	case *ast.AttrGetExpr:
		v.walk(e.Object, true)
		v.walk(e.Key, false)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			v.walk(f.Key, false)
			v.walk(f.Value, false)
		}
	case *ast.FuncCallExpr:
		v.walk(e.Func, false)
		v.walk(e.Receiver, false)
		v.exprs(e.Args)
	case *ast.LogicalOpExpr:
		v.exprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.RelationalOpExpr:
		v.exprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.StringConcatOpExpr:
		v.exprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.ArithmeticOpExpr:
		v.exprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.UnaryMinusOpExpr:
		v.walk(e.Expr, false)
	case *ast.UnaryNotOpExpr:
		v.walk(e.Expr, false)
	case *ast.UnaryLenOpExpr:
		v.walk(e.Expr, false)
	case *ast.FunctionExpr:
		v.stmts(e.Stmts)
	}
}
