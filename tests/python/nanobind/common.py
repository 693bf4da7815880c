import threading

# Helper function to parallelize execution of a function. We intentionally
# don't use the Python threads pools here to have threads shut down / start
# between test cases.
def parallelize(func, n_threads):
    barrier = threading.Barrier(n_threads)
    result = [None]*n_threads

    def wrapper(i):
        barrier.wait()
        result[i] = func()

    workers = []
    for i in range(n_threads):
        t = threading.Thread(target=wrapper, args=(i,))
        t.start()
        workers.append(t)

    for worker in workers:
        worker.join()
    return result
