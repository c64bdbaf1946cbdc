package main

// The compiled-in modules: the one list.
import (
	_ "github.com/locus-sip/locus/modules/admin"
	_ "github.com/locus-sip/locus/modules/auth"
	_ "github.com/locus-sip/locus/modules/auth_db"
	_ "github.com/locus-sip/locus/modules/hdr"
	_ "github.com/locus-sip/locus/modules/htable"
	_ "github.com/locus-sip/locus/modules/maxfwd"
	_ "github.com/locus-sip/locus/modules/nathelper"
	_ "github.com/locus-sip/locus/modules/permissions"
	_ "github.com/locus-sip/locus/modules/pike"
	_ "github.com/locus-sip/locus/modules/pv"
	_ "github.com/locus-sip/locus/modules/registrar"
	_ "github.com/locus-sip/locus/modules/rr"
	_ "github.com/locus-sip/locus/modules/sanity"
	_ "github.com/locus-sip/locus/modules/siputils"
	_ "github.com/locus-sip/locus/modules/sl"
	_ "github.com/locus-sip/locus/modules/store/memstore"
	_ "github.com/locus-sip/locus/modules/store/pgstore"
	_ "github.com/locus-sip/locus/modules/store/redisstore"
	_ "github.com/locus-sip/locus/modules/store/sqlitestore"
	_ "github.com/locus-sip/locus/modules/tm"
	_ "github.com/locus-sip/locus/modules/usrloc"
	_ "github.com/locus-sip/locus/modules/xlog"
)
