package dev.clip4j.model;

import dev.clip4j.Engine;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.JitModules;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Loading of TorchScript files ({@code torch.jit.script}/{@code trace} of an open_clip or OpenAI
 * CLIP exposing {@code encode_image}/{@code encode_text}). clip4j calls those methods as they are
 * (they return projected features) and applies its own L2 normalisation.
 *
 * <p><b>TorchScript is code</b> (PyTorch's security policy says so): load only files you trust,
 * and pin their SHA-256 with {@link LoadOptions.Builder#expectedSha256}. clip4j checks the file is
 * a well-formed TorchScript zip in Java before LibTorch parses it, but cannot make a hostile
 * TorchScript file safe.
 */
final class TorchScriptModels {
  private TorchScriptModels() {}

  /** Builds a TorchScript program model: LibTorch loads the archive, clip4j calls its methods. */
  static ClipModel build(ModelDescription d, Architecture.TorchScriptProgram ts, LoadOptions options) {
    Path file = ts.file();
    Device device = parseDevice(options.device());
    JitModule module = loadModule(file, device);
    boolean owned = false;
    try {
      for (String method : new String[] {"encode_image", "encode_text"}) {
        if (!module.find_method(method).has_value()) {
          throw new InvalidModelException(
              file + ": the TorchScript module has no " + method + " method (script or trace the whole"
                  + " CLIP model, not one tower)");
        }
      }
      module.eval();
      Map<String, long[]> shapes = parameterShapes(module);
      int imageSize = imageSize(file, shapes);
      long[] pos = require(file, shapes, "positional_embedding");
      long[] tok = require(file, shapes, "token_embedding.weight");
      int contextLength = (int) pos[0];
      int vocab = (int) tok[0];
      Precision precision = options.precision();
      if (precision.pure() || precision == Precision.FP32) {
        if (precision != Precision.FP32) {
          module.to(device, precision.scalarType(), false); // the program's own code decides what runs in which dtype
        }
      } else {
        throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, file + ": a TorchScript program runs"
            + " as its code says; only fp32 or a whole-module cast (pure_fp16, pure_bf16) apply to it, not "
            + precision.id() + " (read its weights with --format " + ModelFormat.OPENAI_JIT.id() + " for open_clip's"
            + " mixed precision)");
      }
      Encoder image = new MethodEncoder(module, "encode_image");
      Encoder text = new MethodEncoder(module, "encode_text");
      long dim;
      org.bytedeco.pytorch.global.torch.ScalarType featureType;
      try (Engine.InferenceScope scope = Engine.inference();
          Tensor px = torch.zeros(1, 3, imageSize, imageSize);
          Tensor pxDev = px.to(device, precision.scalarType());
          Tensor img = image.features(pxDev);
          org.bytedeco.pytorch.TensorOptions longs = new org.bytedeco.pytorch.TensorOptions(
              org.bytedeco.pytorch.global.torch.ScalarType.Long);
          Tensor ids0 = torch.zeros(new long[] {1, contextLength}, longs);
          Tensor ids = ids0.to(device, org.bytedeco.pytorch.global.torch.ScalarType.Long);
          Tensor txt = text.features(ids)) {
        if (img.dim() != 2 || txt.dim() != 2 || img.size(1) != txt.size(1)) {
          throw new InvalidModelException(
              file + ": encode_image gives " + TensorShapes.describe(img) + " but encode_text gives "
                  + TensorShapes.describe(txt) + "; the towers must produce the same embedding width");
        }
        if (img.scalar_type().intern() != txt.scalar_type().intern()) {
          throw new InvalidModelException(file + ": encode_image gives " + img.scalar_type().intern()
              + " but encode_text gives " + txt.scalar_type().intern());
        }
        dim = img.size(1);
        featureType = img.scalar_type().intern();
      } catch (RuntimeException e) {
        if (e instanceof dev.clip4j.Clip4jException) {
          throw e;
        }
        throw new InvalidModelException(file + ": a dummy forward of the TorchScript model failed: " + firstLine(e), e);
      }
      float logitScale = shapes.containsKey("logit_scale") ? parameter(module, "logit_scale").item_float() : Float.NaN;
      // The program fixes the sizes: the tokenizer at its context length (the caller's vocabulary,
      // else one beside the file, else the standard one), the preprocessing at its resolution.
      TokenizerSpec spec = options.vocabulary().isPresent()
          ? TokenizerSpec.clipVocabulary(options.vocabulary().get(), contextLength)
          : TorchScriptReader.besideOrStandard(file, contextLength);
      dev.clip4j.tokenize.TextTokenizer tokenizer = spec.open();
      // The heads run where the program's outputs are, in their dtype (the CPU head takes fp32:
      // ClipModel.head converts there): a head on another device than the features fails every call.
      org.bytedeco.pytorch.global.torch.ScalarType headType = device.is_cuda() ? featureType
          : org.bytedeco.pytorch.global.torch.ScalarType.Float;
      String headDevice;
      try (Tensor pos0 = parameter(module, "positional_embedding")) {
        headDevice = dev.clip4j.internal.HostTensors.deviceName(pos0);
      }
      EmbeddingHead imageHead = EmbeddingHead.withoutProjection((int) dim).device(headDevice).dtype(headType).build();
      EmbeddingHead textHead = EmbeddingHead.withoutProjection((int) dim).device(headDevice).dtype(headType).build();
      ModelInfo info = new ModelInfo(
          ModelFormat.TORCHSCRIPT,
          "TorchScript CLIP (encode_image/encode_text), image " + imageSize + "px, context " + contextLength,
          dim, imageSize, contextLength, vocab, null, "TorchScript code", tokenizer.describe(),
          StateDictSchema.parameterCount(shapes), options.precision(), headDevice, "libtorch", d.fileHashes(), null,
          "NOT batch-invariant: the program's own code runs the whole batch (its GEMMs' blocking, and on CUDA the"
              + " kernels cuBLAS/cuDNN choose, depend on the batch size)");
      ModelDescription sized = new ModelDescription(d.format(), d.path(), d.architecture(),
          Architectures.openAiPreprocess(imageSize), spec, d.fileHashes());
      ClipModel.ImageTower imageTower = new ClipModel.ImageTower(image, imageHead, sized.preprocess(),
          options.precision());
      ClipModel.TextTower textTower = new Architectures.EncoderTextTower(text, textHead, tokenizer, vocab,
          options.precision(), contextLength);
      ClipModel model = new ClipModel(info, imageTower, textTower, logitScale, sized, List.of(module::close));
      owned = true;
      // Through the heads this time: a head that cannot take the program's outputs fails here, not
      // on the first request (closes the model, and so the module, when it fails).
      Architectures.checkDummyForward(model);
      return model;
    } catch (RuntimeException e) {
      if (!owned) {
        module.close();
      }
      throw e;
    }
  }

  /** Runs a named method of a TorchScript module. Thread-safe (TorchScript methods are). */
  static final class MethodEncoder implements Encoder {
    private final JitModule module;
    private final String method;

    MethodEncoder(JitModule module, String method) {
      this.module = module;
      this.method = method;
    }

    @Override
    public String name() {
      return method;
    }

    @Override
    public Tensor features(Tensor input) {
      // The IValues hold references to the input and output: free them now, not at GC.
      try (IValue in = new IValue(input); IValueVector args = new IValueVector(in);
          org.bytedeco.pytorch.Method m = module.get_method(method); IValue out = m.apply(args)) {
        if (!out.isTensor()) {
          throw new InvalidModelException(method + " did not return a tensor");
        }
        return new Tensor(out.toTensor()); // toTensor() is a reference into `out`: take our own handle
      }
    }

    @Override
    public void close() {
      // The module is owned by the ClipModel's resources.
    }
  }

  static JitModule loadModule(Path file, Device device) {
    try {
      return torch.load(new org.bytedeco.javacpp.BytePointer(file.toString()), new org.bytedeco.pytorch.DeviceOptional(device), false);
    } catch (RuntimeException e) {
      String why = firstLine(e);
      if (why.startsWith("Unknown type name")) {
        // TorchScript's unpickler resolves only TorchScript types: a pickle naming another Python
        // object (os.system, posix.system, ...) is a tampered archive or not TorchScript at all.
        why += ": the archive's pickle names a Python object that is not a TorchScript type (a tampered or"
            + " non-TorchScript file; TorchScript is code: load only trusted files)";
      }
      throw new InvalidModelException(file + ": LibTorch could not load the TorchScript archive: " + why, e);
    }
  }

  static Device parseDevice(String device) {
    return dev.clip4j.internal.Devices.parse(device); // DeviceException (DEVICE) where it cannot run
  }

  static Map<String, long[]> parameterShapes(JitModule module) {
    Map<String, long[]> shapes = new HashMap<>();
    JitModules.namedParameters(module).forEach((name, t) -> {
      long[] s = new long[(int) t.dim()];
      for (int d = 0; d < s.length; d++) {
        s[d] = t.size(d);
      }
      shapes.put(name, s);
    });
    return shapes;
  }

  static Tensor parameter(JitModule module, String name) {
    Tensor t = JitModules.namedParameters(module).get(name);
    if (t == null) {
      throw new InvalidModelException("no parameter " + name);
    }
    return t;
  }

  private static int imageSize(Path file, Map<String, long[]> shapes) {
    long[] conv = require(file, shapes, "visual.conv1.weight");
    long[] pos = require(file, shapes, "visual.positional_embedding");
    long grid = Math.round(Math.sqrt(pos[0] - 1));
    if (grid * grid != pos[0] - 1 || conv.length != 4) {
      throw new InvalidModelException(file + ": cannot infer the image size from visual.positional_embedding "
          + java.util.Arrays.toString(pos) + " (only ViT towers with a class token are supported)");
    }
    return (int) (grid * conv[2]);
  }

  private static long[] require(Path file, Map<String, long[]> shapes, String name) {
    long[] s = shapes.get(name);
    if (s == null) {
      throw new InvalidModelException(file + ": the TorchScript module has no parameter '" + name
          + "' (not an open_clip/OpenAI ViT CLIP?)");
    }
    return s;
  }


  /**
   * The first non-blank line of a LibTorch error (whose message may start with a newline, and
   * goes on with a C++ stack dump), never an empty reason.
   */
  static String firstLine(Throwable e) {
    String m = e.getMessage();
    if (m != null) {
      for (String line : m.split("\n")) {
        if (!line.isBlank()) {
          return line.strip();
        }
      }
    }
    return "no reason given (" + e.getClass().getName() + ")";
  }
}
