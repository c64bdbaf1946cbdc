package script

import "github.com/yuin/gopher-lua/ast"

// maxHoisted caps the locals hoistKSR declares: the top-level chunk has
// 200 registers in all, and each function that calls one of them takes
// it as an upvalue.
const maxHoisted = 100

// hoistKSR turns each call of a KSR function, KSR.f(…) or KSR.m.f(…),
// into a call of a local that the chunk sets once, first thing:
//
//	local KSR.m.f = KSR.m.f
//
// (the name has dots, so no script can name it). Live, every such call
// otherwise costs a lookup of the global KSR and one or two table lookups
// by string, about 2% of a REGISTER's CPU.
//
// The function found once is the one every call would find when nothing
// can replace KSR, its tables or their functions. So the rewrite is done
// only when:
//   - KSR appears nowhere but at the root of such calls, with constant
//     names and no method call (KSR.m:f passes KSR.m on), so no table of
//     it ever becomes a Lua value: nothing can assign into it, and
//     nothing is bound to the name KSR (no local, parameter or loop
//     variable);
//   - the script never names _G, getfenv or setfenv, through which the
//     global KSR could be read or replaced by a computed name (the
//     sandbox has no load, loadstring, require or debug library).
//
// Only functions that known reports to exist are hoisted, so that a
// script calling a misspelt name on a path it rarely takes still loads,
// and fails there as it did. It returns the chunk and how many names it
// hoisted.
func hoistKSR(chunk []ast.Stmt, known func(mod, fn string) bool) ([]ast.Stmt, int) {
	safe := true
	calls := map[*ast.IdentExpr]bool{} // the KSR at the root of each call
	var v walker
	v.stmt = func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.LocalAssignStmt:
			safe = safe && !hasName(s.Names, "KSR")
		case *ast.NumberForStmt:
			safe = safe && s.Name != "KSR"
		case *ast.GenericForStmt:
			safe = safe && !hasName(s.Names, "KSR")
		}
	}
	v.expr = func(e ast.Expr, _ bool) {
		switch e := e.(type) {
		case *ast.FuncCallExpr:
			if root, _, _, ok := ksrCall(e); ok {
				calls[root] = true
			}
		case *ast.IdentExpr:
			switch e.Value {
			case "KSR":
				safe = safe && calls[e] // the call is visited before its callee
			case "_G", "getfenv", "setfenv":
				safe = false
			}
		case *ast.FunctionExpr:
			safe = safe && (e.ParList == nil || !hasName(e.ParList.Names, "KSR"))
		}
	}
	v.stmts(chunk)
	if !safe || len(calls) == 0 {
		return chunk, 0
	}

	var decl ast.LocalAssignStmt
	hoisted := map[string]bool{}
	v.stmt = func(ast.Stmt) {}
	v.expr = func(e ast.Expr, _ bool) {
		c, ok := e.(*ast.FuncCallExpr)
		if !ok {
			return
		}
		_, mod, fn, ok := ksrCall(c)
		if !ok || !known(mod, fn) {
			return
		}
		name := "KSR." + fn
		if mod != "" {
			name = "KSR." + mod + "." + fn
		}
		if !hoisted[name] {
			if len(decl.Names) == maxHoisted {
				return
			}
			hoisted[name] = true
			decl.Names = append(decl.Names, name)
			decl.Exprs = append(decl.Exprs, c.Func)
		}
		id := &ast.IdentExpr{Value: name}
		id.SetLine(c.Func.Line())
		id.SetLastLine(c.Func.LastLine())
		c.Func = id
	}
	v.stmts(chunk)
	if len(decl.Names) == 0 {
		return chunk, 0
	}
	return append([]ast.Stmt{&decl}, chunk...), len(decl.Names)
}

// ksrCall reports whether c calls KSR.fn(…) or KSR.mod.fn(…), and returns
// the KSR at its root and the names.
func ksrCall(c *ast.FuncCallExpr) (root *ast.IdentExpr, mod, fn string, ok bool) {
	if c.Receiver != nil {
		return nil, "", "", false
	}
	outer, ok := c.Func.(*ast.AttrGetExpr)
	if !ok {
		return nil, "", "", false
	}
	key, ok := outer.Key.(*ast.StringExpr)
	if !ok {
		return nil, "", "", false
	}
	fn = key.Value
	obj := outer.Object
	if inner, ok := obj.(*ast.AttrGetExpr); ok {
		k, ok := inner.Key.(*ast.StringExpr)
		if !ok {
			return nil, "", "", false
		}
		mod, obj = k.Value, inner.Object
	}
	root, ok = obj.(*ast.IdentExpr)
	if !ok || root.Value != "KSR" {
		return nil, "", "", false
	}
	return root, mod, fn, true
}
