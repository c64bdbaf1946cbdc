package script

import "github.com/yuin/gopher-lua/ast"

// KSR.x.exit() stops a route by raising an error that Call recognises:
// a Go panic that unwinds the VM and its Go frames. Live, that unwinding
// costs about as much as the rest of the Lua runtime's work for a
// request, and most scripts call exit straight from ksr_request_route,
// where a plain return has the same effect: Call discards what the route
// returns. exitReturns turns those calls into returns when the script
// gives no way to tell the difference:
//
//   - ksr_request_route is defined once, by a function statement, and
//     named nowhere else (no Lua code calls it, so returning from it ends
//     the route);
//   - the script never binds KSR (no local, parameter or loop variable of
//     that name, no assignment to KSR or to anything under it, no function
//     defined into it), and uses KSR and KSR.x only to index them further
//     (so no alias can replace KSR.x.exit), nor the strings "KSR" or
//     "ksr_request_route".
//
// Only calls in the route's own body are rewritten, in any block of it
// but not inside a function defined there: an exit in a helper, or in a
// function passed to pcall, keeps raising. It returns how many calls it
// rewrote.
func exitReturns(chunk []ast.Stmt) int {
	var route *ast.FuncDefStmt
	safe := true
	routeNames := 0
	var v walker
	v.stmt = func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.FuncDefStmt:
			if id, ok := s.Name.Func.(*ast.IdentExpr); ok && id.Value == RequestRoute && s.Name.Receiver == nil {
				if route != nil {
					safe = false
				}
				route = s
				routeNames-- // its own name, counted as an identifier below
			}
			if rootedAtKSR(s.Name.Func) || rootedAtKSR(s.Name.Receiver) {
				safe = false
			}
		case *ast.LocalAssignStmt:
			safe = safe && !hasKSR(s.Names)
		case *ast.NumberForStmt:
			safe = safe && s.Name != "KSR"
		case *ast.GenericForStmt:
			safe = safe && !hasKSR(s.Names)
		case *ast.AssignStmt:
			for _, e := range s.Lhs {
				safe = safe && !rootedAtKSR(e)
			}
		}
	}
	v.expr = func(e ast.Expr, indexed bool) {
		switch e := e.(type) {
		case *ast.IdentExpr:
			switch e.Value {
			case RequestRoute:
				routeNames++
			case "KSR":
				safe = safe && indexed
			}
		case *ast.StringExpr:
			safe = safe && e.Value != "KSR" && e.Value != RequestRoute
		case *ast.AttrGetExpr:
			if isKSRx(e) {
				safe = safe && indexed
			}
		case *ast.FunctionExpr:
			safe = safe && (e.ParList == nil || !hasKSR(e.ParList.Names))
		}
	}
	v.stmts(chunk)
	if route == nil || !safe || routeNames != 0 {
		return 0
	}
	return rewriteExits(route.Func.Stmts)
}

// rewriteExits replaces the KSR.x.exit() statements of a block and of the
// blocks nested in it, but not of functions defined in it.
func rewriteExits(stmts []ast.Stmt) int {
	n := 0
	for i, s := range stmts {
		switch s := s.(type) {
		case *ast.FuncCallStmt:
			if isExitCall(s.Expr) {
				r := &ast.ReturnStmt{}
				r.SetLine(s.Line())
				r.SetLastLine(s.LastLine())
				stmts[i] = r
				n++
			}
		case *ast.DoBlockStmt:
			n += rewriteExits(s.Stmts)
		case *ast.WhileStmt:
			n += rewriteExits(s.Stmts)
		case *ast.RepeatStmt:
			n += rewriteExits(s.Stmts)
		case *ast.IfStmt:
			n += rewriteExits(s.Then) + rewriteExits(s.Else)
		case *ast.NumberForStmt:
			n += rewriteExits(s.Stmts)
		case *ast.GenericForStmt:
			n += rewriteExits(s.Stmts)
		}
	}
	return n
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

func hasKSR(names []string) bool {
	for _, n := range names {
		if n == "KSR" {
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
