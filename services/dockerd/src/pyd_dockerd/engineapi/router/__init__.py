"""One module per area of the Engine API (moby's api/server/router/<area>): each
`register(r)` adds its routes; handlers parse, call the daemon core, and answer in
Docker's JSON shapes."""
