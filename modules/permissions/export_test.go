package permissions

// SwapTable replaces the groups in use, as a reload does.
func SwapTable(p *Permissions, t *Table) { p.tab.Store(t) }
