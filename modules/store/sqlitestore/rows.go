package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

// The columns of a binding, after tbl, aor and pos, in the order every
// statement below lists them.
const bindingCols = `baor, contact, expires, q, call_id, cseq, received, socket, conn_id, path, instance, reg_id, user_agent, methods, flags, modified, ruid`

const (
	sqlSelect = `SELECT pos, ` + bindingCols + ` FROM bindings WHERE tbl = ? AND aor = ? ORDER BY pos`
	sqlInsert = `INSERT OR REPLACE INTO bindings (tbl, aor, pos, ` + bindingCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlDeleteFrom = `DELETE FROM bindings WHERE tbl = ? AND aor = ? AND pos >= ?`
	sqlExpire     = `DELETE FROM bindings WHERE expires <= ? RETURNING tbl, aor, pos, ` + bindingCols
	// sqlList reads a batch of the listing: rows from the AoR ?2 on, but
	// not ?3 (the AoR listed last). sqlListPrefix stops below ?4, the
	// successor of the prefix. Both bounds are index ranges.
	sqlList = `SELECT aor, pos, ` + bindingCols + ` FROM bindings
		WHERE tbl = ?1 AND aor >= ?2 AND aor <> ?3 ORDER BY aor, pos LIMIT ?5`
	sqlListPrefix = `SELECT aor, pos, ` + bindingCols + ` FROM bindings
		WHERE tbl = ?1 AND aor >= ?2 AND aor <> ?3 AND aor < ?4 ORDER BY aor, pos LIMIT ?5`
)

func toMillis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// insertArgs returns the arguments of sqlInsert for b at pos.
func insertArgs(table, aor string, pos int, b *usrloc.Binding) ([]any, error) {
	var baor any // NULL: the binding's AOR is the AoR's
	if b.AOR != aor {
		baor = b.AOR
	}
	path := ""
	if len(b.Path) > 0 {
		p, err := json.Marshal(b.Path)
		if err != nil {
			return nil, err
		}
		path = string(p)
	}
	return []any{
		table, aor, pos,
		baor, b.Contact, toMillis(b.Expires), int64(b.Q), b.CallID, int64(b.CSeq),
		b.Received, b.Socket, b.ConnID, path, b.Instance, int64(b.RegID),
		b.UserAgent, b.Methods, int64(b.Flags), toMillis(b.Modified), b.RUID,
	}, nil
}

// row is the scan target of one binding row.
type row struct {
	tbl, aor             string
	pos                  int64
	baor                 sql.NullString
	expires, modified    int64
	q, cseq, regID, flgs int64
	path                 string
	b                    usrloc.Binding
}

// dest returns the scan destinations for the binding columns, after the
// given leading ones.
func (r *row) dest(lead ...any) []any {
	return append(lead,
		&r.baor, &r.b.Contact, &r.expires, &r.q, &r.b.CallID, &r.cseq,
		&r.b.Received, &r.b.Socket, &r.b.ConnID, &r.path, &r.b.Instance, &r.regID,
		&r.b.UserAgent, &r.b.Methods, &r.flgs, &r.modified, &r.b.RUID)
}

// binding finishes the scanned row into a Binding stored under aor.
func (r *row) binding(aor string) (usrloc.Binding, error) {
	b := r.b
	b.AOR = aor
	if r.baor.Valid {
		b.AOR = r.baor.String
	}
	b.Expires = fromMillis(r.expires)
	b.Modified = fromMillis(r.modified)
	b.Q = int(r.q)
	b.CSeq = uint32(r.cseq)
	b.RegID = int(r.regID)
	b.Flags = uint32(r.flgs)
	b.Path = nil
	if r.path != "" {
		if err := json.Unmarshal([]byte(r.path), &b.Path); err != nil {
			return b, fmt.Errorf("path %q of %s: %w", r.path, aor, err)
		}
	}
	return b, nil
}

// scanner is what *sql.Rows offers.
type scanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanAoR reads the rows of sqlSelect: the bindings and their positions.
func scanAoR(rows scanner, aor string) ([]usrloc.Binding, []int64, error) {
	var (
		out []usrloc.Binding
		pos []int64
		r   row
	)
	dest := r.dest(&r.pos)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		b, err := r.binding(aor)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b)
		pos = append(pos, r.pos)
	}
	return out, pos, rows.Err()
}

// sameRow reports whether a and b, stored under aor, make the same row.
func sameRow(a, b *usrloc.Binding) bool {
	return a.AOR == b.AOR && a.Contact == b.Contact && toMillis(a.Expires) == toMillis(b.Expires) &&
		a.Q == b.Q && a.CallID == b.CallID && a.CSeq == b.CSeq && a.Received == b.Received &&
		a.Socket == b.Socket && a.ConnID == b.ConnID && slices.Equal(a.Path, b.Path) &&
		a.Instance == b.Instance && a.RegID == b.RegID && a.UserAgent == b.UserAgent &&
		a.Methods == b.Methods && a.Flags == b.Flags && toMillis(a.Modified) == toMillis(b.Modified) &&
		a.RUID == b.RUID
}

// snapshot copies bs deeply enough that fn cannot change the copy.
func snapshot(bs []usrloc.Binding) []usrloc.Binding {
	out := slices.Clone(bs)
	for i := range out {
		if out[i].Path != nil {
			out[i].Path = slices.Clone(out[i].Path)
		}
	}
	return out
}

// normalize returns bs as Get would return them: times to the millisecond,
// Path copied (nil when empty), nothing shared with bs.
func normalize(bs []usrloc.Binding) []usrloc.Binding {
	if len(bs) == 0 {
		return nil
	}
	out := make([]usrloc.Binding, len(bs))
	for i, b := range bs {
		b.Expires = fromMillis(toMillis(b.Expires))
		b.Modified = fromMillis(toMillis(b.Modified))
		if len(b.Path) == 0 {
			b.Path = nil
		} else {
			b.Path = slices.Clone(b.Path)
		}
		out[i] = b
	}
	return out
}
