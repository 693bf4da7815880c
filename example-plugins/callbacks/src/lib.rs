//! oxbind example plugin: Python objects and callbacks.
//!
//! - [`Object`]: any Python object, kept, passed around, operated on;
//! - [`Callback`]: a typed Python callable (`map`, `sort_by`, an event hub
//!   whose handlers a Rust worker thread calls);
//! - [`Object::function`]: Rust closures handed to Python (`scaler`,
//!   `compose`);
//! - `#[oxbind(detach)]`: long work that lets other threads run Python.

use std::collections::HashMap;

use oxbind::{Callback, Error, Object};

/// `[f(x) for x in items]`, in Rust.
#[oxbind::function]
pub fn map(f: Callback<(Object,), Object>, items: Vec<Object>) -> Result<Vec<Object>, Error> {
    items.into_iter().map(|x| f.call((x,))).collect()
}

/// The strings sorted by `key(s)`, an int (a stable sort).
#[oxbind::function]
pub fn sort_by(items: Vec<String>, key: Callback<(&str,), i64>) -> Result<Vec<String>, Error> {
    let mut keyed = items
        .into_iter()
        .map(|s| Ok((key.call((s.as_str(),))?, s)))
        .collect::<Result<Vec<_>, Error>>()?;
    keyed.sort_by_key(|(k, _)| *k);
    Ok(keyed.into_iter().map(|(_, s)| s).collect())
}

/// `f(n, s)`, which must return a bool.
#[oxbind::function]
pub fn check(f: Callback<(i64, &str), bool>, n: i64, s: &str) -> Result<bool, Error> {
    f.call((n, s))
}

/// Calls `f(i)` for `i` in `0..n` and sums the results (ints): the cost of
/// calling Python from Rust, for the benchmarks.
#[oxbind::function]
pub fn call_n(f: Callback<(i64,), i64>, n: i64) -> Result<i64, Error> {
    let mut total = 0;
    for i in 0..n {
        total += f.call((i,))?;
    }
    Ok(total)
}

/// The object itself.
#[oxbind::function]
pub fn identity(obj: Object) -> Object {
    obj
}

/// `getattr(obj, name)`.
#[oxbind::function]
pub fn get_attr(obj: Object, name: &str) -> Result<Object, Error> {
    obj.getattr(name)
}

/// `setattr(obj, name, value)`.
#[oxbind::function]
pub fn set_attr(obj: Object, name: &str, value: Object) -> Result<(), Error> {
    obj.setattr(name, value)
}

/// `obj.name(*args)` with integer arguments.
#[oxbind::function]
pub fn call_method(obj: Object, name: &str, args: Vec<i64>) -> Result<Object, Error> {
    match args.as_slice() {
        [] => obj.call_method(name, ()),
        [a] => obj.call_method(name, (*a,)),
        [a, b] => obj.call_method(name, (*a, *b)),
        _ => Err(Error::value_error("at most two arguments")),
    }
}

/// `f(*args, **{key: value})`.
#[oxbind::function]
pub fn call_kw(f: Object, arg: Object, key: &str, value: Object) -> Result<Object, Error> {
    f.call_kw((arg,), &[(key, value)])
}

/// What Rust sees of an object: `(repr, str, type name, truth, hash or
/// None, len or None)`, joined with `|`.
#[oxbind::function]
pub fn describe(obj: Object) -> Result<String, Error> {
    let type_name: String = obj.get_type()?.getattr("__name__")?.extract()?;
    let hash = obj
        .hash()
        .map(|h| h.to_string())
        .unwrap_or_else(|_| "None".into());
    let len = obj
        .len()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "None".into());
    Ok(format!(
        "{}|{}|{}|{}|{}|{}",
        obj.repr()?,
        obj.str()?,
        type_name,
        obj.is_truthy()?,
        hash,
        len
    ))
}

/// `[a == b, a is b]`: Python's equality, then identity.
#[oxbind::function]
pub fn equal(a: Object, b: Object) -> Result<Vec<bool>, Error> {
    Ok(vec![a.eq(&b)?, a.is(&b)])
}

/// Whether `obj` is `None`, and whether it is an instance of `cls`.
#[oxbind::function]
pub fn classify(obj: Object, cls: Object) -> Result<Vec<bool>, Error> {
    Ok(vec![obj.is_none(), obj.isinstance(&cls)?])
}

/// The first item, or None for an empty list.
#[oxbind::function]
pub fn first(items: Vec<Object>) -> Option<Object> {
    items.into_iter().next()
}

/// The dict's values, ordered by key.
#[oxbind::function]
pub fn values_by_key(d: HashMap<String, Object>) -> Vec<Object> {
    let mut pairs: Vec<_> = d.into_iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.into_iter().map(|(_, v)| v).collect()
}

/// `obj` converted to an `i64`, with the argument rules.
#[oxbind::function]
pub fn as_int(obj: Object) -> Result<i64, Error> {
    obj.extract()
}

/// `obj` converted to a list of strings.
#[oxbind::function]
pub fn as_strings(obj: Object) -> Result<Vec<String>, Error> {
    obj.extract()
}

/// The `x` of a `Point` (extracted by value: a clone).
#[oxbind::function]
pub fn point_x(obj: Object) -> Result<f64, Error> {
    Ok(obj.extract::<Point>()?.x)
}

/// The items of any iterable, through Python's iteration protocol.
#[oxbind::function]
pub fn collect(iterable: Object) -> Result<Vec<Object>, Error> {
    iterable.iter()?.collect()
}

/// `math.<name>(x)`, through `import`.
#[oxbind::function]
pub fn math(name: &str, x: f64) -> Result<f64, Error> {
    oxbind::import("math")?.call_method(name, (x,))?.extract()
}

/// Builds Python values from Rust ones: `[0, …, n-1]`, a str, None.
#[oxbind::function]
pub fn build(n: i64) -> Result<Vec<Object>, Error> {
    Ok(vec![
        Object::from_value((0..n).collect::<Vec<i64>>())?,
        Object::from_value(format!("n={n}"))?,
        Object::none()?,
        Object::from_value(Point {
            x: n as f64,
            y: 0.0,
        })?,
    ])
}

/// A Python function that multiplies by `k` (a Rust closure).
#[oxbind::function]
pub fn scaler(k: f64) -> Result<Object, Error> {
    Object::function(
        "scale",
        "Multiplies x by the factor.",
        &["x"],
        move |x: f64| x * k,
    )
}

/// A Python function computing `f(g(x))` (a Rust closure holding both).
#[oxbind::function]
pub fn compose(f: Object, g: Object) -> Result<Object, Error> {
    Object::function("composed", "f(g(x)).", &["x"], move |x: Object| {
        f.call((g.call((x,))?,))
    })
}

/// Raises what `f()` raises (or returns its result): the exception reaches
/// Python unchanged.
#[oxbind::function]
pub fn call_through(f: Object) -> Result<Object, Error> {
    f.call(())
}

/// Calls `f()`; if it raised an instance of `cls`, returns `"handled:
/// <message>"` instead.
#[oxbind::function]
pub fn call_handling(f: Object, cls: Object) -> Result<String, Error> {
    match f.call(()) {
        Ok(v) => v.repr(),
        Err(e) if e.is_instance(&cls) => Ok(format!("handled: {}", e.message)),
        Err(e) => Err(e),
    }
}

/// Calls `f(t)` `n` times from each of `threads` Rust threads (`t` the
/// thread's index), detached meanwhile so that those threads can run
/// Python; returns how many calls returned.
#[oxbind::function]
#[oxbind(detach)]
pub fn call_from_threads(f: Callback<(i64,), ()>, threads: i64, n: i64) -> Result<i64, Error> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let f = f.clone();
                s.spawn(move || -> Result<i64, Error> {
                    for _ in 0..n {
                        f.call((t,))?;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| Error::runtime_error("a worker panicked"))?
            })
            .sum()
    })
}

/// Sums `0..n` the slow way, detached: other threads run Python meanwhile.
#[oxbind::function]
#[oxbind(detach)]
pub fn crunch(n: u64) -> u64 {
    let mut total = 0u64;
    for i in 0..n {
        total = std::hint::black_box(total.wrapping_add(i ^ (total >> 3)));
    }
    total
}

/// [`crunch`] without detaching (the control case).
#[oxbind::function]
pub fn crunch_attached(n: u64) -> u64 {
    let mut total = 0u64;
    for i in 0..n {
        total = std::hint::black_box(total.wrapping_add(i ^ (total >> 3)));
    }
    total
}

/// A point, to show class values becoming objects.
#[oxbind::class(module = "callbacks")]
#[derive(Clone)]
pub struct Point {
    #[oxbind(get)]
    x: f64,
    #[oxbind(get)]
    y: f64,
}

/// Handlers called with `(event, value)`: from the calling thread
/// (`emit`) or from a Rust worker thread (`emit_from_worker`). It holds
/// Python callables, so it is a `gc` class: a handler that refers back to
/// the hub is a cycle the collector frees.
#[oxbind::class(module = "callbacks", gc)]
pub struct EventHub {
    handlers: Vec<Callback<(String, i64), ()>>,
    /// How many events `emit` has sent.
    #[oxbind(get)]
    emitted: u64,
    /// Any Python object to keep (a payload the handlers may use).
    #[oxbind(get, set)]
    payload: Option<Object>,
}

#[oxbind::methods]
impl EventHub {
    /// An empty hub.
    #[oxbind(new)]
    fn new() -> EventHub {
        EventHub {
            handlers: Vec::new(),
            emitted: 0,
            payload: None,
        }
    }

    /// Adds a handler.
    fn subscribe(&mut self, handler: Callback<(String, i64), ()>) {
        self.handlers.push(handler);
    }

    /// How many handlers there are.
    fn __len__(&self) -> usize {
        self.handlers.len()
    }

    /// Calls every handler with `(event, value)`, in order, and counts the
    /// event; stops at the first handler that raises, and raises that. The
    /// hub is borrowed exclusively meanwhile: a handler that uses it again
    /// gets a RuntimeError.
    fn emit(&mut self, event: &str, value: i64) -> Result<(), Error> {
        self.emitted += 1;
        for h in &self.handlers {
            h.call((event, value))?;
        }
        Ok(())
    }

    /// Calls every handler `count` times from a Rust worker thread, with
    /// values `0..count`; the calling thread waits, detached. Returns the
    /// number of calls made.
    #[oxbind(detach)]
    fn emit_from_worker(&self, event: String, count: i64) -> Result<i64, Error> {
        let handlers = self.handlers.clone();
        std::thread::spawn(move || -> Result<i64, Error> {
            let mut calls = 0;
            for v in 0..count {
                for h in &handlers {
                    h.call((event.as_str(), v))?;
                    calls += 1;
                }
            }
            Ok(calls)
        })
        .join()
        .map_err(|_| Error::runtime_error("the worker panicked"))?
    }

    /// Starts a Rust thread that calls every handler with `(event, i)`,
    /// pausing `pause_ms` milliseconds between rounds, forever, and is never
    /// joined: until a handler raises, or the interpreter shuts down (then
    /// the call fails and the thread ends).
    fn start_background(&self, event: String, pause_ms: u64) {
        let handlers = self.handlers.clone();
        std::thread::spawn(move || {
            for i in 0i64.. {
                for h in &handlers {
                    if h.call((event.as_str(), i)).is_err() {
                        return;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(pause_ms));
            }
        });
    }
}

impl oxbind::gc::Traverse for EventHub {
    fn traverse(&self, visit: &mut oxbind::gc::Visit<'_>) {
        for h in &self.handlers {
            visit.callback(h);
        }
        if let Some(p) = &self.payload {
            visit.object(p);
        }
    }
    fn clear(&mut self) {
        self.handlers.clear();
        self.payload = None;
    }
}

oxbind::plugin! {
    name: "callbacks",
    doc: "Python objects and callbacks: map, sort_by, an event hub, closures.",
    functions: [map, sort_by, check, call_n, identity, get_attr, set_attr, call_method, call_kw,
                describe, equal, classify, first, values_by_key, as_int, as_strings, point_x, collect, math,
                build, scaler, compose, call_through, call_handling, call_from_threads, crunch,
                crunch_attached],
    classes: [Point, EventHub],
}
