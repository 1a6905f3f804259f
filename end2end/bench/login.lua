-- POST /api/v1/auth/login with the benchmark user's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench0@example.com","password":"benchmark password"}'
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
