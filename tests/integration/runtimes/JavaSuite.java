// Java in the container (t_runtimes.sh): the HotSpot JIT, a thread pool, garbage collection,
// files, a child process, a loopback socket, and the JVM's exit with its threads still
// blocked.  Every step prints in a fixed order.
import java.io.*;
import java.net.*;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;

public class JavaSuite {
	public static void main(String[] args) throws Exception {
		ExecutorService pool = Executors.newFixedThreadPool(4);
		List<Future<Long>> parts = new ArrayList<>();
		for (int t = 0; t < 4; t++) {
			final int k = t;
			parts.add(pool.submit(() -> {
				long s = 0;
				for (int i = 0; i < 20_000_000; i++)
					s += (i ^ k) % 3;
				return s;
			}));
		}
		long total = 0;
		for (Future<Long> f : parts)
			total += f.get();
		pool.shutdown();
		System.out.println("threads: " + total);

		List<byte[]> live = new ArrayList<>();
		for (int i = 0; i < 300; i++) {
			live.add(new byte[1 << 20]);
			if (live.size() > 16)
				live.remove(0);
		}
		System.gc();
		System.out.println("gc: " + live.size());

		Path p = Path.of("/tmp/java.txt");
		Files.writeString(p, "x".repeat(100000));
		System.out.println("file: " + Files.readString(p).length());

		Process proc = new ProcessBuilder("/bin/sh", "-c", "echo child $((6*7))").start();
		String out = new String(proc.getInputStream().readAllBytes()).trim();
		System.out.println("process: " + out + " exit " + proc.waitFor());

		try (ServerSocket srv = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			Thread server = new Thread(() -> {
				try (Socket c = srv.accept()) {
					String line = new BufferedReader(new InputStreamReader(c.getInputStream())).readLine();
					c.getOutputStream().write(("echo " + line + "\n").getBytes());
				} catch (IOException e) {
					throw new UncheckedIOException(e);
				}
			});
			server.start();
			try (Socket c = new Socket(InetAddress.getLoopbackAddress(), srv.getLocalPort())) {
				c.getOutputStream().write("ping\n".getBytes());
				System.out.println("socket: " + new BufferedReader(new InputStreamReader(c.getInputStream())).readLine());
			}
			server.join();
		}

		// Threads left blocked when the JVM exits.
		CountDownLatch never = new CountDownLatch(1);
		for (int i = 0; i < 8; i++) {
			Thread t = new Thread(() -> {
				try {
					never.await();
				} catch (InterruptedException e) {
				}
			});
			t.setDaemon(true);
			t.start();
		}
		System.out.println("exit: with 8 blocked threads");
		System.exit(3);
	}
}
