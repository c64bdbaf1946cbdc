package registrar

// URIString exposes uriString to the external tests.
var URIString = uriString
