-- GET the URL as a terminal does: with the API key in BENCH_API_KEY (none if unset),
-- or a person with the bearer token in BENCH_BEARER.
wrk.method = "GET"
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then
  wrk.headers["X-API-Key"] = key
end
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end
