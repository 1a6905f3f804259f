//! The browser entry point: hydrates the server-rendered page. The Bots, Activity and Account
//! pages are lazy routes, split into WebAssembly of their own (`cargo leptos build --split`),
//! so hydration waits for the piece of the page being shown.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Release bundles leave the panic hook out: it costs more than the first page's 250 KB
    // (brotli) budget allows, and a release panic still stops the app with the browser's own
    // error.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
