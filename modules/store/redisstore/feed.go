package redisstore

import (
	"encoding/json"

	"github.com/redis/go-redis/v9"

	"github.com/locus-sip/locus/modules/usrloc"
)

// change is the message published for every update.
type change struct {
	Node  string `json:"n"`
	Table string `json:"t"`
	AOR   string `json:"a"`
}

func (s *Store) message(table, aor string) string {
	b, _ := json.Marshal(change{Node: s.node, Table: table, AOR: aor})
	return string(b)
}

// Changes delivers the AoRs other Stores (other nodes, or other Stores in
// this process) changed. After the subscription was lost and restored, or
// when the consumer fell behind and changes were dropped, it delivers a
// Change with an empty AOR: anything may have changed.
func (s *Store) Changes() <-chan usrloc.Change { return s.changes }

// feed turns the subscription's messages into Changes without ever
// blocking on the consumer: when the channel is full, the changes that do
// not fit are replaced by one "everything changed" Change, sent as soon as
// there is room.
func (s *Store) feed(in <-chan any) {
	defer close(s.feedDone)
	defer close(s.changes)
	var pending bool // an "everything changed" Change is owed
	for {
		var flush chan<- usrloc.Change
		if pending {
			flush = s.changes
		}
		select {
		case m, ok := <-in:
			if !ok {
				return
			}
			var c usrloc.Change
			switch m := m.(type) {
			case *redis.Subscription:
				// Only re-subscriptions come here (Open consumed the first):
				// whatever was published while disconnected is lost.
				if m.Kind != "subscribe" {
					continue
				}
			case *redis.Message:
				var msg change
				if err := json.Unmarshal([]byte(m.Payload), &msg); err == nil {
					if msg.Node == s.node {
						continue
					}
					c = usrloc.Change{Table: msg.Table, AOR: msg.AOR}
				}
				// An unreadable message: assume anything changed.
			default:
				continue
			}
			if pending {
				continue // the flush owed covers it
			}
			if c.AOR == "" {
				pending = true
				continue
			}
			select {
			case s.changes <- c:
			default:
				pending = true
			}
		case flush <- usrloc.Change{}:
			pending = false
		}
	}
}
