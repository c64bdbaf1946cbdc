package usrloc

import "context"

// LostFlow is told by the forwarding module that a binding's connection
// is gone. With handle_lost_tcp on, the binding is removed (the device
// must register again over a new connection); it reports whether it was.
func (u *Usrloc) LostFlow(ctx context.Context, table, aor, ruid string) (bool, error) {
	if !u.HandleLostTCP || aor == "" || ruid == "" {
		return false, nil
	}
	if table == "" {
		table = "location"
	}
	removed := false
	_, err := u.Update(ctx, table, aor, func(cur []Binding) ([]Binding, error) {
		removed = false
		out := make([]Binding, 0, len(cur))
		for _, b := range cur {
			if b.RUID == ruid {
				removed = true
				continue
			}
			out = append(out, b)
		}
		return out, nil
	})
	return removed, err
}
