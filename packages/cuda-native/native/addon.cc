// N-API glue. JS sees:
//   probe()                     -> driver library, driver/runtime versions, devices (never throws)
//   version, cudaArchs          the package version and CUDA targets compiled in (CMake defines)
//   new Device(index)           one stream + caches; throws where CUDA cannot start
//   device.alloc(bytes, zero)   -> Buffer (device memory owned by the JS object)
//   device.launch(name, buffers, params: Float64Array)        a kernel from the op table
//   device.write(buffer, typedArray)                          upload through pinned staging
//   device.read(buffer)         -> Promise<ArrayBuffer>      async copy + event, waited off-thread
//   device.sync()               -> Promise<void>
//   device.memory(), resetPeak(), emptyCache(), info(), dispose()
//   buffer.free()               explicit release; a finalizer releases forgotten buffers
#include <napi.h>

#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/ops.h"

using lmhc::ArgError;
using lmhc::CudaError;
using lmhc::Device;

namespace {

/** Run `fn`, converting native exceptions to JS errors with a `code` the TS side maps. */
template <typename F>
auto guarded(const Napi::Env& env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const CudaError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", e.code == cudaErrorMemoryAllocation ? "CUDA_OOM" : "CUDA_ERROR");
    throw err;
  } catch (const lmhc::UnsupportedDeviceError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", "CUDA_UNSUPPORTED");
    throw err;
  } catch (const ArgError& e) {
    Napi::Error err = Napi::TypeError::New(env, e.what());
    err.Set("code", "CUDA_ARG");
    throw err;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "host out of memory");
  }
}

struct AddonData {
  Napi::FunctionReference bufferCtor;
};

class BufferObj : public Napi::ObjectWrap<BufferObj> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Buffer",
                       {InstanceMethod("free", &BufferObj::Free),
                        InstanceAccessor("bytes", &BufferObj::Bytes, nullptr),
                        InstanceAccessor("freed", &BufferObj::Freed, nullptr)});
  }
  explicit BufferObj(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferObj>(info) {}

  void attach(std::shared_ptr<Device> dev, void* p, size_t block, size_t bytes) {
    dev_ = std::move(dev);
    ptr_ = p;
    block_ = block;
    bytes_ = bytes;
  }
  void release(Napi::Env env) {
    if (!ptr_) return;
    dev_->alloc.release(ptr_, block_, bytes_);
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
    ptr_ = nullptr;
    dev_.reset();
  }
  // The safety net: a buffer whose tensor was never disposed goes back to the pool at GC.
  void Finalize(Napi::Env env) override { release(env); }

  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device* device() const { return dev_.get(); }

 private:
  Napi::Value Free(const Napi::CallbackInfo& info) {
    release(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
  }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }

  std::shared_ptr<Device> dev_;
  void* ptr_ = nullptr;
  size_t block_ = 0, bytes_ = 0;
};

/** Waits for an event off the JS thread, then finishes on it (copy out, resolve). */
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::shared_ptr<Device> dev, cudaEvent_t ev, void* staging, size_t block,
             size_t bytes)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        dev_(std::move(dev)),
        ev_(ev),
        staging_(staging),
        block_(block),
        bytes_(bytes) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    cudaSetDevice(dev_->id);
    cudaError_t e = cudaEventSynchronize(ev_);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      SetError(std::string("CUDA error while waiting for the stream: ") + cudaGetErrorName(e) + " (" +
               cudaGetErrorString(e) + ")");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (staging_) {
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes_);
      std::memcpy(ab.Data(), staging_, bytes_);
      cleanup();
      deferred_.Resolve(ab);
    } else {
      cleanup();
      deferred_.Resolve(env.Undefined());
    }
  }
  void OnError(const Napi::Error& e) override {
    cleanup();
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", "CUDA_ERROR");
    deferred_.Reject(err.Value());
  }

 private:
  void cleanup() {
    cudaEventDestroy(ev_);
    if (staging_) {
      if (dev_->disposed) cudaFreeHost(staging_);
      else dev_->pinned.put(staging_, block_);
    }
    staging_ = nullptr;
  }
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Device> dev_;
  cudaEvent_t ev_;
  void* staging_;
  size_t block_, bytes_;
};

class DeviceObj : public Napi::ObjectWrap<DeviceObj> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Device",
                       {InstanceMethod("alloc", &DeviceObj::Alloc),
                        InstanceMethod("launch", &DeviceObj::Launch),
                        InstanceMethod("write", &DeviceObj::Write),
                        InstanceMethod("read", &DeviceObj::Read),
                        InstanceMethod("sync", &DeviceObj::Sync),
                        InstanceMethod("memory", &DeviceObj::Memory),
                        InstanceMethod("resetPeak", &DeviceObj::ResetPeak),
                        InstanceMethod("emptyCache", &DeviceObj::EmptyCache),
                        InstanceMethod("info", &DeviceObj::Info),
                        InstanceMethod("ops", &DeviceObj::Ops),
                        InstanceMethod("dispose", &DeviceObj::Dispose),
                        InstanceMethod("recordEvent", &DeviceObj::RecordEvent),
                        InstanceMethod("elapsedMs", &DeviceObj::ElapsedMs),
                        InstanceMethod("clearEvents", &DeviceObj::ClearEvents)});
  }

  explicit DeviceObj(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceObj>(info) {
    int idx = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    guarded(info.Env(), [&] {
      int count = 0;
      CK(cudaGetDeviceCount(&count));
      if (idx < 0 || idx >= count)
        throw ArgError("CUDA device " + std::to_string(idx) + " does not exist (" + std::to_string(count) +
                       " found)");
      dev_ = std::make_shared<Device>(idx);
      return 0;
    });
  }

 private:
  Device& dev(const Napi::Env& env) {
    if (!dev_ || dev_->disposed) throw Napi::Error::New(env, "the CUDA backend has been disposed");
    return *dev_;
  }

  BufferObj* unwrapBuffer(const Napi::Env& env, const Napi::Value& v, const std::string& what) {
    if (!v.IsObject()) throw Napi::TypeError::New(env, what + ": expected a CUDA buffer");
    auto* data = env.GetInstanceData<AddonData>();
    Napi::Object o = v.As<Napi::Object>();
    if (!o.InstanceOf(data->bufferCtor.Value()))
      throw Napi::TypeError::New(env, what + ": expected a CUDA buffer");
    BufferObj* b = BufferObj::Unwrap(o);
    if (!b->ptr()) throw Napi::Error::New(env, what + ": buffer has been disposed");
    if (b->device() != dev_.get()) throw Napi::Error::New(env, what + ": buffer belongs to another CUDA backend");
    return b;
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    double bytesD = info[0].As<Napi::Number>().DoubleValue();
    bool zero = info.Length() > 1 && info[1].ToBoolean().Value();
    if (!(bytesD >= 0) || bytesD > 9.0e15) throw Napi::RangeError::New(env, "alloc: invalid byte count");
    size_t bytes = static_cast<size_t>(bytesD);
    auto* data = env.GetInstanceData<AddonData>();
    return guarded(env, [&]() -> Napi::Value {
      size_t block = 0;
      cudaSetDevice(d.id);
      void* p = d.alloc.alloc(bytes, &block);
      if (zero && bytes > 0) {
        cudaError_t e = cudaMemsetAsync(p, 0, bytes, d.stream);
        if (e != cudaSuccess) {
          d.alloc.release(p, block, bytes);
          lmhc::throw_cuda(e, "cudaMemsetAsync");
        }
      }
      Napi::Object o = data->bufferCtor.New({});
      BufferObj::Unwrap(o)->attach(dev_, p, block, bytes);
      Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
      return o;
    });
  }

  Napi::Value Launch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    std::string name = info[0].As<Napi::String>().Utf8Value();
    auto it = lmhc::opTable().find(name);
    if (it == lmhc::opTable().end()) throw Napi::Error::New(env, "unknown CUDA kernel '" + name + "'");
    Napi::Array arr = info[1].As<Napi::Array>();
    Napi::Float64Array params = info[2].As<Napi::Float64Array>();
    lmhc::OpArgs args{d, {}, params.Data(), params.ElementLength()};
    args.bufs.resize(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (v.IsNull() || v.IsUndefined()) continue;
      BufferObj* b = unwrapBuffer(env, v, name + " buffer " + std::to_string(i));
      args.bufs[i] = {b->ptr(), b->bytes()};
    }
    guarded(env, [&] {
      cudaSetDevice(d.id);
      it->second(args);
      return 0;
    });
    return env.Undefined();
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    BufferObj* b = unwrapBuffer(env, info[0], "write");
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    size_t bytes = ta.ByteLength();
    if (bytes != b->bytes())
      throw Napi::RangeError::New(env, "write: expected " + std::to_string(b->bytes()) + " bytes, got " +
                                           std::to_string(bytes));
    if (bytes == 0) return env.Undefined();
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    guarded(env, [&] {
      cudaSetDevice(d.id);
      size_t block = 0;
      void* st = d.pinned.get(bytes, &block);
      std::memcpy(st, src, bytes);
      cudaError_t e = cudaMemcpyAsync(b->ptr(), st, bytes, cudaMemcpyHostToDevice, d.stream);
      if (e != cudaSuccess) {
        d.pinned.put(st, block);
        lmhc::throw_cuda(e, "cudaMemcpyAsync (upload)");
      }
      cudaEvent_t ev;
      CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
      CK(cudaEventRecord(ev, d.stream));
      d.pinned.putAfter(st, block, ev);
      return 0;
    });
    return env.Undefined();
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    BufferObj* b = unwrapBuffer(env, info[0], "read");
    size_t bytes = b->bytes();
    return guarded(env, [&]() -> Napi::Value {
      cudaSetDevice(d.id);
      size_t block = 0;
      void* st = d.pinned.get(bytes ? bytes : 1, &block);
      if (bytes) {
        cudaError_t e = cudaMemcpyAsync(st, b->ptr(), bytes, cudaMemcpyDeviceToHost, d.stream);
        if (e != cudaSuccess) {
          d.pinned.put(st, block);
          lmhc::throw_cuda(e, "cudaMemcpyAsync (readback)");
        }
      }
      cudaEvent_t ev;
      CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
      CK(cudaEventRecord(ev, d.stream));
      auto* w = new WaitWorker(env, dev_, ev, st, block, bytes);
      Napi::Promise p = w->promise();
      w->Queue();
      return p;
    });
  }

  Napi::Value Sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    return guarded(env, [&]() -> Napi::Value {
      cudaSetDevice(d.id);
      cudaEvent_t ev;
      CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
      CK(cudaEventRecord(ev, d.stream));
      auto* w = new WaitWorker(env, dev_, ev, nullptr, 0, 0);
      Napi::Promise p = w->promise();
      w->Queue();
      return p;
    });
  }

  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    lmhc::MemStats s = dev(env).alloc.stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("liveBuffers", double(s.liveBuffers));
    o.Set("liveBytes", double(s.liveBytes));
    o.Set("pooledBuffers", double(s.pooledBuffers));
    o.Set("pooledBytes", double(s.pooledBytes));
    o.Set("peakBytes", double(s.peakBytes));
    o.Set("reservedBytes", double(s.reservedBytes));
    o.Set("peakReservedBytes", double(s.peakReservedBytes));
    return o;
  }

  Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
    dev(info.Env()).alloc.resetPeak();
    return info.Env().Undefined();
  }

  Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
    Device& d = dev(info.Env());
    cudaSetDevice(d.id);
    d.alloc.emptyCache();
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("index", d.id);
    o.Set("sms", d.sms);
    o.Set("computeCapability", std::to_string(d.ccMajor) + "." + std::to_string(d.ccMinor));
    o.Set("memTotal", double(d.memTotal));
    o.Set("cublas", d.blas.ok() ? Napi::Value(Napi::String::New(env, d.blas.version.empty() ? "loaded" : d.blas.version))
                                : env.Null());
    o.Set("cublasError", d.blas.loadError);
    o.Set("mma", !d.noMma);
    o.Set("loadedArch", d.loadedArch);
    o.Set("clusterLaunch", d.clusterLaunch);
    o.Set("clusterKernels", d.clusterKernels);
    return o;
  }

  Napi::Value Ops(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env);
    uint32_t i = 0;
    for (auto& [k, v] : lmhc::opTable()) a.Set(i++, k);
    return a;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    ClearEvents(info);
    if (dev_ && !dev_->disposed) dev_->dispose();
    return info.Env().Undefined();
  }

  // Timing events for benchmarks: recordEvent() enqueues one on the stream and returns its index;
  // elapsedMs(i, j) reads the time between two (after a sync); clearEvents() frees them all.
  Napi::Value RecordEvent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Device& d = dev(env);
    return guarded(env, [&]() -> Napi::Value {
      cudaEvent_t ev;
      CK(cudaEventCreate(&ev));
      CK(cudaEventRecord(ev, d.stream));
      events_.push_back(ev);
      return Napi::Number::New(env, static_cast<double>(events_.size() - 1));
    });
  }

  Napi::Value ElapsedMs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t i = info[0].As<Napi::Number>().Uint32Value(), j = info[1].As<Napi::Number>().Uint32Value();
    if (i >= events_.size() || j >= events_.size()) throw Napi::RangeError::New(env, "elapsedMs: no such event");
    return guarded(env, [&]() -> Napi::Value {
      float ms = 0.f;
      CK(cudaEventElapsedTime(&ms, events_[i], events_[j]));
      return Napi::Number::New(env, ms);
    });
  }

  Napi::Value ClearEvents(const Napi::CallbackInfo& info) {
    for (auto ev : events_) cudaEventDestroy(ev);
    events_.clear();
    return info.Env().Undefined();
  }

  std::vector<cudaEvent_t> events_;

  std::shared_ptr<Device> dev_;
};

// What stands between this process and a usable device, in the order a user has to fix it: the
// driver library (libcuda.so.1, opened here only to tell "no driver" from the rest; the CUDA runtime
// opens it again itself), its CUDA version, the device count and each device's compute capability.
// Reading device properties creates no context. Never throws: the JS side classifies the result.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("runtimeVersion", CUDART_VERSION);
  void* libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  int drv = 0;
  if (!libcuda) {
    const char* err = dlerror();
    o.Set("libcuda", false);
    o.Set("libcudaError", err ? err : "dlopen(libcuda.so.1) failed");
  } else {
    o.Set("libcuda", true);
    o.Set("libcudaError", "");
    using GetVersion = int (*)(int*);
    auto getVersion = reinterpret_cast<GetVersion>(dlsym(libcuda, "cuDriverGetVersion"));
    if (!getVersion || getVersion(&drv) != 0) drv = 0;
  }
  o.Set("driverVersion", drv);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  Napi::Array devices = Napi::Array::New(env);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    count = 0;
    o.Set("error", cudaGetErrorName(e));
    o.Set("errorCode", static_cast<int>(e));
    o.Set("errorMessage", cudaGetErrorString(e));
  } else {
    o.Set("error", "");
    o.Set("errorCode", 0);
    o.Set("errorMessage", "");
    for (int i = 0; i < count; i++) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
        (void)cudaGetLastError();
        continue;
      }
      Napi::Object d = Napi::Object::New(env);
      d.Set("index", i);
      d.Set("name", prop.name);
      d.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
      d.Set("memTotal", static_cast<double>(prop.totalGlobalMem));
      devices.Set(devices.Length(), d);
    }
  }
  o.Set("count", count);
  o.Set("devices", devices);
  return o;
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function bufferCtor = BufferObj::Init(env);
  data->bufferCtor = Napi::Persistent(bufferCtor);
  env.SetInstanceData<AddonData>(data);
  exports.Set("Buffer", bufferCtor);
  exports.Set("Device", DeviceObj::Init(env));
  exports.Set("probe", Napi::Function::New(env, Probe));
  // The JS side refuses an addon whose version differs from its own (a stale build, or a prebuilt
  // package of another release): the op table and parameter layouts change between versions.
  exports.Set("version", LMHC_VERSION);
  exports.Set("cudaArchs", LMHC_CUDA_ARCHS);
  return exports;
}

}  // namespace

NODE_API_MODULE(liger_mhc_cuda, InitAll)
