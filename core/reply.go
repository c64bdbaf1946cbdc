package core

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// reply sends a reply to a request that came in on l, as Msg.Reply does,
// without building a sip.Response: the reply is written from the request
// straight into a send buffer. The bytes and the destination are the ones
// Msg.Reply would produce through newResponse, Send and respond; a test
// holds the two paths to that.
func (l *udpListener) reply(m *Msg, code int, reason string, hdrs []sip.Header) error {
	reason, err := m.replyReason(code, reason)
	if err != nil {
		return err
	}
	if err := m.claimReply(code); err != nil {
		return err
	}
	w := l.bufs.Get().(*bytes.Buffer)
	w.Reset()
	port := m.writeReply(w, code, reason, hdrs)
	err = l.writeTo(w.Bytes(), netip.AddrPortFrom(m.src.Addr(), uint16(port)))
	l.bufs.Put(w)
	if err != nil {
		return fmt.Errorf("core: send %d: %w", code, err)
	}
	return nil
}

// writeReply writes what WriteMessage writes for the reply NewReply
// builds, with hdrs and a Content-Length of 0 appended (hdrs and
// ReplyHeaders have none), and returns the port to send it to. It takes
// newResponse's decisions from the same helpers (copiesRecordRoute,
// eachVia, topViaReply, replyPort) and writes the headers in its order:
// a header added to one must be added to the other, or
// TestWriteReplyMatchesReply fails.
func (m *Msg) writeReply(w *bytes.Buffer, code int, reason string, hdrs []sip.Header) int {
	req := m.Req
	w.WriteString("SIP/2.0 ")
	writeInt(w, int64(code))
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
	if copiesRecordRoute(req.Method, code) {
		for _, h := range req.GetHeaders("Record-Route") {
			writeLine(w, h)
		}
	}
	dstPort := 0
	eachVia(req, func(h sip.Header, top *sip.ViaHeader) {
		if top == nil {
			writeLine(w, h)
			return
		}
		dstPort = m.writeTopVia(w, top)
	})
	if h := req.From(); h != nil {
		writeLine(w, h)
	}
	if h := req.To(); h != nil {
		if code > 100 && !h.Params.Has("tag") {
			w.WriteString(h.Name())
			w.WriteString(": ")
			writeNameAddr(w, h.DisplayName, &h.Address, h.Params)
			w.WriteString(";tag=") // after the parameters, as Add puts it
			var buf [32]byte
			w.Write(m.appendToTag(buf[:0]))
			w.WriteString("\r\n")
		} else {
			writeLine(w, h)
		}
	}
	if h := req.CallID(); h != nil {
		writeLine(w, h)
	}
	if h := req.CSeq(); h != nil {
		writeLine(w, h)
	}
	if code == 100 {
		if h := req.GetHeader("Timestamp"); h != nil {
			writeLine(w, h)
		}
	}
	if m.Server != "" {
		w.WriteString("Server: ")
		w.WriteString(m.Server)
		w.WriteString("\r\n")
	}
	for _, h := range m.ReplyHeaders {
		writeLine(w, h)
	}
	for _, h := range hdrs {
		writeLine(w, h)
	}
	w.WriteString("Content-Length: 0\r\n\r\n")
	return m.replyPort(dstPort)
}

// writeTopVia writes the request's top Via as a reply carries it (RFC
// 3261 §18.2.1, RFC 3581): with received when the sender's address is not
// the sent-by host, and rport filled in when asked for. It returns the
// Via's port, or the source port when rport was asked for.
func (m *Msg) writeTopVia(w *bytes.Buffer, via *sip.ViaHeader) int {
	dstPort, setRport, setReceived := m.topViaReply(via)
	writeSentBy(w, via)
	for _, kv := range via.Params {
		if setRport && kv.K == "rport" || setReceived && kv.K == "received" {
			continue // replaced below, at the end, as Remove and Add do
		}
		w.WriteByte(';')
		writeParam(w, kv)
	}
	if setRport {
		w.WriteString(";rport=")
		writeInt(w, int64(m.SrcPort))
	}
	if setReceived {
		w.WriteString(";received=")
		w.WriteString(m.SrcIP)
	}
	w.WriteString("\r\n")
	return dstPort
}

// writeLine writes one header and its line end.
func writeLine(w *bytes.Buffer, h sip.Header) {
	writeHeader(w, h)
	w.WriteString("\r\n")
}
