package main

// The compiled-in modules: the one list.
import (
	_ "github.com/locus-sip/locus/modules/sl"
)
