package core

import (
	"bytes"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// WriteMessage serialises msg into w exactly as msg.StringWrite(w) does
// (the transports send what it writes), for less: the headers locus's messages are mostly made of (Via, From,
// To, Call-ID, CSeq, Contact, Content-Length and plain name/value headers)
// are written here without going through io.StringWriter one piece at a
// time, without strconv allocations, and without sipgo's net.ParseIP of
// every host; any other header type is written by sipgo.
func WriteMessage(w *bytes.Buffer, msg sip.Message) {
	var hs []sip.Header
	switch msg := msg.(type) {
	case *sip.Response:
		hs = msg.Headers()
		w.WriteString(msg.SipVersion)
		w.WriteByte(' ')
		writeInt(w, int64(msg.StatusCode))
		w.WriteByte(' ')
		w.WriteString(msg.Reason)
	case *sip.Request:
		hs = msg.Headers()
		w.WriteString(string(msg.Method))
		w.WriteByte(' ')
		writeURI(w, &msg.Recipient)
		w.WriteByte(' ')
		w.WriteString(msg.SipVersion)
	default:
		msg.StringWrite(w)
		return
	}
	w.WriteString("\r\n")
	for i, h := range hs {
		if i > 0 {
			w.WriteString("\r\n")
		}
		writeHeader(w, h)
	}
	w.WriteString("\r\n\r\n")
	if body := msg.Body(); body != nil {
		w.Write(body)
	}
}

// writeHeader writes "Name: value" as h.StringWrite(w) does.
func writeHeader(w *bytes.Buffer, h sip.Header) {
	switch h := h.(type) {
	case *sip.ViaHeader:
		writeSentBy(w, h)
		if len(h.Params) > 0 {
			w.WriteByte(';')
			writeParams(w, h.Params, ';')
		}
	case *sip.FromHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		writeNameAddr(w, h.DisplayName, &h.Address, h.Params)
	case *sip.ToHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		writeNameAddr(w, h.DisplayName, &h.Address, h.Params)
	case *sip.ContactHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		if h.Address.Wildcard {
			w.WriteByte('*')
			return
		}
		writeNameAddr(w, h.DisplayName, &h.Address, h.Params)
	case *sip.CallIDHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		w.WriteString(string(*h))
	case *sip.CSeqHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		writeInt(w, int64(h.SeqNo))
		w.WriteByte(' ')
		w.WriteString(string(h.MethodName))
	case *sip.ContentLengthHeader:
		w.WriteString(h.Name())
		w.WriteString(": ")
		writeInt(w, int64(*h))
	default:
		// Plain headers (sip.NewHeader) print their value as is; Name
		// and Value are cheap for them, and StringWrite is the same for
		// any other type.
		h.StringWrite(w)
	}
}

// writeSentBy writes a Via up to its parameters: "Via: SIP/2.0/UDP host:port".
func writeSentBy(w *bytes.Buffer, h *sip.ViaHeader) {
	w.WriteString(h.Name())
	w.WriteString(": ")
	w.WriteString(h.ProtocolName)
	w.WriteByte('/')
	w.WriteString(h.ProtocolVersion)
	w.WriteByte('/')
	w.WriteString(h.Transport)
	w.WriteByte(' ')
	writeHostPort(w, h.Host, h.Port)
}

// writeNameAddr writes a From, To or Contact value: ["name" ]<uri>[;params].
func writeNameAddr(w *bytes.Buffer, display string, uri *sip.Uri, params sip.HeaderParams) {
	if display != "" {
		w.WriteByte('"')
		w.WriteString(display)
		w.WriteString(`" `)
	}
	w.WriteByte('<')
	writeURI(w, uri)
	w.WriteByte('>')
	if len(params) > 0 {
		w.WriteByte(';')
		writeParams(w, params, ';')
	}
}

// writeURI writes uri as uri.StringWrite(w) does.
func writeURI(w *bytes.Buffer, uri *sip.Uri) {
	if uri.Scheme == "" {
		w.WriteString("sip")
	} else {
		w.WriteString(uri.Scheme)
	}
	w.WriteByte(':')
	if raw := uri.Raw(); raw != "" {
		w.WriteString(raw)
		return
	}
	if uri.HierarhicalSlashes {
		w.WriteString("//")
	}
	if uri.User != "" {
		w.WriteString(uri.User)
		if uri.Password != "" {
			w.WriteByte(':')
			w.WriteString(uri.Password)
		}
		w.WriteByte('@')
	}
	writeHostPort(w, uri.Host, uri.Port)
	if len(uri.UriParams) > 0 {
		w.WriteByte(';')
		writeParams(w, uri.UriParams, ';')
	}
	if len(uri.Headers) > 0 {
		w.WriteByte('?')
		writeParams(w, uri.Headers, '&')
	}
}

// writeHostPort writes host, and ":port" when port is set.
func writeHostPort(w *bytes.Buffer, host string, port int) {
	writeHost(w, host)
	if port > 0 {
		w.WriteByte(':')
		writeInt(w, int64(port))
	}
}

// writeHost writes a host, bracketing an IPv6 address written without
// brackets, as sipgo does. Only a host with a colon can be one, so the
// address is parsed only then.
func writeHost(w *bytes.Buffer, host string) {
	if strings.IndexByte(host, ':') >= 0 {
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			w.WriteByte('[')
			w.WriteString(host)
			w.WriteByte(']')
			return
		}
	}
	w.WriteString(host)
}

// writeParams writes k=v pairs separated by sep; a value with a space or
// tab is quoted, an empty one leaves the bare key, as sipgo does.
func writeParams(w *bytes.Buffer, ps sip.HeaderParams, sep byte) {
	for i, kv := range ps {
		if i > 0 {
			w.WriteByte(sep)
		}
		writeParam(w, kv)
	}
}

// writeParam writes one parameter of writeParams.
func writeParam(w *bytes.Buffer, kv sip.HeaderKV) {
	w.WriteString(kv.K)
	switch {
	case kv.V == "":
	case ascii.ContainsAny(kv.V, " \t"):
		w.WriteString(`="`)
		w.WriteString(kv.V)
		w.WriteByte('"')
	default:
		w.WriteByte('=')
		w.WriteString(kv.V)
	}
}

func writeInt(w *bytes.Buffer, n int64) {
	var buf [20]byte
	w.Write(strconv.AppendInt(buf[:0], n, 10))
}
