package dev.clip4j.internal;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.File;
import java.io.IOException;
import java.net.JarURLConnection;
import java.net.MalformedURLException;
import java.net.URISyntaxException;
import java.net.URL;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;
import org.bytedeco.pytorch.global.torch;

/**
 * Loads LibTorch's native libraries so that the first start on a machine (an empty JavaCPP cache)
 * behaves like every later one.
 *
 * <p><b>Upstream cause</b> (bytedeco pytorch 2.10.0-1.5.13 with JavaCPP 1.5.13): {@code
 * Loader.load(torch.class)} extracts and loads the preset's libraries one at a time, in the
 * preset's preload order, and that order names {@code torch} before {@code torch_cpu}. {@code
 * libtorch.so} is a stub whose only DT_NEEDED entry is {@code libtorch_cpu.so} (RUNPATH {@code
 * $ORIGIN}). On a cold cache {@code libtorch_cpu.so} is not yet extracted when {@code libtorch.so}
 * is dlopen'ed, so the dynamic linker falls through to the system search path. On a host that has
 * another LibTorch there (Debian's {@code python3-torch} installs {@code
 * /usr/lib/x86_64-linux-gnu/libtorch_cpu.so} 1.13, conda environments do the same) that foreign
 * {@code libtorch_cpu.so} and its {@code libc10} are mapped next to the bundled ones and their
 * static initialisers crash the JVM ({@code SIGSEGV in pthread_mutex_lock} inside {@code
 * System.load}). On the second start every file is in the cache, {@code $ORIGIN} resolves, and
 * the crash is gone, which is why only fresh containers, CI runners and Spark executors hit it.
 *
 * <p><b>Workaround</b>: first extract every shared library of the platform directory of each
 * native jar (JavaCPP, OpenBLAS, PyTorch, and CUDA's where present) into the cache, under
 * JavaCPP's own cache lock; then load OpenBLAS through its preset and LibTorch's libraries by
 * absolute path in dependency order (OpenMP runtime, c10, torch_cpu, torch), so every DT_NEEDED
 * name is already mapped from the cache when the next library asks for it and nothing is looked
 * up on the system path (this also keeps a foreign
 * LibTorch on {@code LD_LIBRARY_PATH}, which the linker searches before RUNPATH, out of the
 * process); then {@code Loader.load(torch.class)} finds everything loaded and only adds the JNI
 * library. Remove this when the preset's preload order lists {@code torch_cpu} before {@code
 * torch}.
 */
public final class LibTorchLoader {
  /**
   * Leaves first: each library's dependencies come before it. The CUDA ones exist only in the GPU
   * jar (in that build {@code libtorch.so} also needs {@code libtorch_cuda.so}); files that are
   * not there are skipped; one that is there and fails to load (a CUDA library missing on the
   * host) is reported as the load's failure, before the preset's own load could fall back to the
   * system search path.
   */
  private static final String[] TORCH_ORDER = {
    "libgomp.so.1", "libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"
  };

  private LibTorchLoader() {}

  /**
   * Extracts the native jars' libraries into JavaCPP's cache, preloads LibTorch's core libraries
   * in dependency order, then runs {@code Loader.load(torch.class)}. Safe to call more than once;
   * concurrent JVMs sharing a cache directory are serialised by JavaCPP's cache lock.
   *
   * @throws Clip4jException (UNSUPPORTED) when LibTorch's libraries cannot be loaded
   */
  public static synchronized void load() {
    if (!Loader.isLoadLibraries()) {
      Loader.load(torch.class); // the application loads libraries itself
      return;
    }
    List<File> torchDirs = extractAll();
    // OpenBLAS (or MKL, when Blas.selectMkl ran) first: libtorch_cpu.so needs libopenblas.so.0.
    Loader.load(openblas.class);
    // One directory only (two copies of libtorch_cpu.so must never both load): the GPU build when
    // its jar is on the class path, as the preset itself prefers its -gpu extension.
    java.util.Optional<File> dir = torchDirs.stream().filter(d -> d.getName().endsWith("-gpu")).findFirst()
        .or(() -> torchDirs.stream().findFirst());
    if (dir.isPresent()) {
      // A library of the chosen build that does not load is reported here and now: left to the
      // preset's load, it falls back to the system search path, where another LibTorch (Debian's
      // python3-torch, a conda env) gets mapped and aborts the JVM (seen with the GPU build on a
      // host without CUDA's libraries: "terminate called after throwing std::system_error").
      Map<String, String> failed = preload(dir.get(), TORCH_ORDER);
      if (!failed.isEmpty()) {
        throw loadFailure(dir.get().getName().endsWith("-gpu"), failed);
      }
    }
    try {
      Loader.load(torch.class);
    } catch (UnsatisfiedLinkError e) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED,
          "LibTorch's native libraries could not be loaded for platform " + Loader.getPlatform() + " (cache "
              + cacheDirForMessage() + "): " + e.getMessage(), e);
    }
  }

  /**
   * Extracts the shared libraries ({@code lib*.so*}) of the platform directories of the native
   * jars on the class path; returns the PyTorch directories they went to (CPU and, when the GPU
   * jar is present, GPU).
   */
  private static List<File> extractAll() {
    String platform = Loader.getPlatform();
    List<File> torchDirs = new ArrayList<>();
    for (String pkg : new String[] {"javacpp", "openblas", "cuda", "pytorch"}) {
      for (String variant : new String[] {platform, platform + "-gpu"}) {
        String dirName = "/org/bytedeco/" + pkg + "/" + variant + "/";
        try {
          for (URL dir : Loader.findResources(torch.class, dirName)) {
            File extractedDir = extractLibraries(dir);
            if (pkg.equals("pytorch") && extractedDir != null) {
              torchDirs.add(extractedDir);
            }
          }
        } catch (IOException e) {
          throw new Clip4jException(ErrorCode.UNSUPPORTED,
              "cannot extract LibTorch's native libraries into the JavaCPP cache " + cacheDirForMessage()
                  + " (set -Dorg.bytedeco.javacpp.cachedir=DIR to a writable directory with ~450 MB free): "
                  + e.getMessage(), e);
        }
      }
    }
    return torchDirs;
  }

  /**
   * Extracts the {@code lib*.so*} entries directly under a jar directory URL into the cache
   * (JavaCPP's {@code cacheResource}: its cache lock, size and timestamp checks); returns the
   * directory they went to, or null when there were none. A directory outside a jar (exploded
   * class path) is used in place.
   */
  private static File extractLibraries(URL dir) throws IOException {
    if (!"jar".equals(dir.getProtocol())) {
      try {
        File f = new File(dir.toURI());
        return f.isDirectory() ? f : null;
      } catch (URISyntaxException | IllegalArgumentException e) {
        return null;
      }
    }
    JarURLConnection conn = (JarURLConnection) dir.openConnection();
    conn.setUseCaches(false);
    String prefix = conn.getEntryName();
    List<String> names = new ArrayList<>();
    try (JarFile jar = conn.getJarFile()) {
      Enumeration<JarEntry> entries = jar.entries();
      while (entries.hasMoreElements()) {
        JarEntry e = entries.nextElement();
        String name = e.getName();
        if (!e.isDirectory() && name.startsWith(prefix)) {
          String rest = name.substring(prefix.length());
          if (rest.indexOf('/') < 0 && rest.startsWith("lib") && rest.contains(".so")) {
            names.add(rest);
          }
        }
      }
    }
    File parent = null;
    for (String name : names) {
      File f = Loader.cacheResource(new URL(dir, name));
      if (f != null) {
        parent = f.getParentFile();
      }
    }
    return parent;
  }

  /**
   * The error for LibTorch libraries that did not load ({@code failed}: file name to the linker's
   * message). GPU build: a {@link dev.clip4j.DeviceException} ({@link ErrorCode#DEVICE}) naming the
   * missing CUDA library and what to install; CPU build: UNSUPPORTED.
   */
  static Clip4jException loadFailure(boolean gpuBuild, Map<String, String> failed) {
    Map.Entry<String, String> first = failed.entrySet().iterator().next();
    String why = first.getKey() + ": " + first.getValue();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(lib[\\w.+-]+\\.so[\\w.]*): cannot open shared object file")
        .matcher(first.getValue());
    String missing = m.find() ? m.group(1) : null;
    if (gpuBuild) {
      return new dev.clip4j.DeviceException(ErrorCode.DEVICE, "the GPU build of LibTorch cannot load on this host"
          + (missing != null ? ": " + missing + " is missing" : "") + " (" + why + "). It needs the CUDA 13.1 runtime"
          + " libraries (cudart, cuBLAS, cuSPARSE, cuFFT, cuRAND, cuSOLVER, nvJitLink, NCCL) and cuDNN 9.19 on the"
          + " library path (LD_LIBRARY_PATH or ldconfig), and a CUDA 13 driver; without a GPU use the CPU build"
          + " (no -Pgpu)");
    }
    return new Clip4jException(ErrorCode.UNSUPPORTED, "LibTorch's native libraries could not be loaded for platform "
        + Loader.getPlatform() + " (" + why + ")");
  }

  /**
   * Loads the named files of {@code dir} that exist, in order, through JavaCPP's loader; returns
   * the ones that failed (file name to the linker's message), in order.
   */
  private static Map<String, String> preload(File dir, String[] order) {
    Map<String, String> failed = new java.util.LinkedHashMap<>();
    for (String lib : order) {
      File f = new File(dir, lib);
      if (!f.isFile()) {
        continue;
      }
      URL url;
      try {
        url = f.toURI().toURL();
      } catch (MalformedURLException e) {
        continue;
      }
      String reason = null;
      try {
        // "#" with an empty second name: never fall back to System.loadLibrary's search path. With
        // "#", a library that does not load makes loadLibrary return null (no exception).
        if (Loader.loadLibrary(torch.class, new URL[] {url}, lib + "#") == null) {
          reason = "not loaded";
          try {
            System.load(f.getAbsolutePath()); // fails the same way, with the dynamic linker's reason
          } catch (UnsatisfiedLinkError e) {
            reason = e.getMessage();
          }
        }
      } catch (UnsatisfiedLinkError e) {
        reason = e.getMessage();
      }
      if (reason != null) {
        System.getLogger(LibTorchLoader.class.getName())
            .log(System.Logger.Level.DEBUG, "preloading " + f + " failed: " + reason);
        failed.put(lib, reason);
      }
    }
    return failed;
  }

  private static String cacheDirForMessage() {
    try {
      return Loader.getCacheDir().toString();
    } catch (IOException e) {
      return "(none: " + e.getMessage() + ")";
    }
  }
}
