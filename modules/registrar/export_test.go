package registrar

// URIString exposes uriString to the external tests.
var URIString = uriString

// MayEqualURI exposes mayEqualURI to the external tests.
var MayEqualURI = mayEqualURI
