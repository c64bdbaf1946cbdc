package sl

import (
	"fmt"

	"github.com/locus-sip/locus/core"
)

// SendReply answers the request with code and reason (the standard
// phrase when reason is empty). It fails if a final reply was already sent.
func (s *SL) SendReply(m *core.Msg, code int, reason string) error {
	if code < 100 || code > 699 {
		return fmt.Errorf("sl: reply code %d out of range 100-699", code)
	}
	return m.Reply(code, reason)
}

// ReplyError answers with the reply that describes the last internal
// error recorded on the message, or 500 when there is none.
func (s *SL) ReplyError(m *core.Msg) error {
	code, reason := m.ErrCode, m.ErrReason
	if code < 300 || code > 699 {
		code, reason = 500, "Server Internal Error"
	}
	return m.Reply(code, reason)
}
